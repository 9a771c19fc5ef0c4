// Tokens never reach the logs, however the URL that carries them is written.
import t, { type Test } from 'tap'
import { createFastify, errorHandlerPlugin, loggerOptions, redactUrl } from '../src/index.js'

const SECRET = 'S3cr3tT0ken-abcdef0123456789'

async function build (t: Test) {
  const lines: string[] = []
  const app = createFastify({ service: 'kit-test', logLevel: 'info' }, {
    logger: { ...(loggerOptions('info', 'kit-test') as object), stream: { write (line: string) { lines.push(line) } } }
  })
  await app.register(errorHandlerPlugin)
  app.post('/webhooks/payhero/:token', async () => ({ ok: true }))
  app.post('/webhooks/mpesa/:token', async () => ({ ok: true }))
  app.get('/api/orders/:orderId', async () => ({ ok: true }))
  t.teardown(() => app.close())
  return { app, lines }
}

// Each variant carries SECRET in a different disguise; the encoded forms are what a log grep would miss.
const variants: Array<[string, string]> = [
  ['the plain query token', `/api/orders/o1?token=${SECRET}`],
  ['a percent-encoded parameter name (tok%65n)', `/api/orders/o1?tok%65n=${SECRET}`],
  ['a fully encoded parameter name (%74oken)', `/api/orders/o1?%74%6f%6b%65%6e=${SECRET}`],
  ['a percent-encoded value', `/api/orders/o1?token=${encodeURIComponent(SECRET).replace(/[A-Za-z]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}`],
  ['a repeated token, the real one second', `/api/orders/o1?token=x&token=${SECRET}`],
  ['the token after other parameters', `/api/orders/o1?timeout=0&since=1&token=${SECRET}&lastEventId=3`],
  ['an upper-case parameter name', `/api/orders/o1?TOKEN=${SECRET}`],
  ['an access_token parameter', `/api/orders/o1?access_token=${SECRET}`],
  ['a plain path token', `/webhooks/mpesa/${SECRET}`],
  ['a path token with a query after it', `/webhooks/payhero/${SECRET}?x=1`],
  ['an encoded provider (mpes%61)', `/webhooks/mpes%61/${SECRET}`],
  ['an encoded webhooks segment', `/%77ebhooks/mpesa/${SECRET}`],
  ['an upper-case provider (answered 404)', `/webhooks/PAYHERO/${SECRET}`],
  ['an upper-case WEBHOOKS segment', `/WEBHOOKS/mpesa/${SECRET}`],
  ['an encoded slash before the token', `/webhooks/mpesa%2F${SECRET}`],
  ['a trailing segment after the token', `/webhooks/mpesa/${SECRET}/extra`],
  ['a malformed escape elsewhere in the path', `/webhooks/mpesa/${SECRET}%ZZ`],
  ['a token in the provider position', `/webhooks/${SECRET}`]
]

t.test('each disguise of a token is masked in the request log', async (t) => {
  const { app, lines } = await build(t)
  for (const [name, url] of variants) {
    lines.length = 0
    const res = await app.inject({ method: url.startsWith('/api/') ? 'GET' : 'POST', url, payload: url.startsWith('/api/') ? undefined : {} })
    t.ok(res.statusCode < 500, `${name}: answered ${res.statusCode}`)
    const logged = lines.join('\n')
    t.match(logged, /incoming request/, `${name}: the request was logged`)
    t.notMatch(logged, /S3cr3tT0ken/i, `${name}: the secret is not in the log`)
    t.notMatch(res.body, /S3cr3tT0ken/i, `${name}: nor echoed in the answer`)
  }
})

t.test('what is not a secret stays readable in the logged URL', async (t) => {
  t.equal(redactUrl('/api/orders/o1/wait?timeout=1000&since=3&token=abc'), '/api/orders/o1/wait?timeout=1000&since=3&token=[token]')
  t.equal(redactUrl('/webhooks/mpesa/abc'), '/webhooks/mpesa/[token]')
  t.equal(redactUrl('/api/orders/o%2D1'), '/api/orders/o-1', 'logged decoded')
  t.equal(redactUrl('/api/registrations/updates/stream?registrationId=42'), '/api/registrations/updates/stream?registrationId=42')
  t.notMatch(redactUrl('/api/x?email=jane.doe%40example.com&phone=254708374149'), /jane\.doe|708374/, 'personal data masked too')
})
