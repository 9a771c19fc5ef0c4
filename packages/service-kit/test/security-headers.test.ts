import t from 'tap'
import { createFastify, errorHandlerPlugin, securityHeadersPlugin } from '../src/index.js'
import { securityHeadersOf } from '../src/plugins/security-headers.js'

async function build () {
  const app = createFastify({ service: 'kit-test', logLevel: 'silent' })
  await app.register(errorHandlerPlugin)
  await app.register(securityHeadersPlugin)
  app.get('/json', async () => ({ ok: true }))
  app.get('/boom', async () => { throw new Error('boom') })
  app.get('/raw', (request, reply) => {
    reply.hijack()
    // As the gateway's SSE fan-out does: a hijacked answer copies the reply's headers (request id, CORS, these).
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value)
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream' })
    reply.raw.end(': hello\n\n')
  })
  app.get('/page', (request, reply) => {
    reply.header('content-security-policy', "default-src 'self'")
    reply.type('text/html').send('<p>page</p>')
  })
  return app
}

t.test('helmet\'s headers are read once, as its middleware sets them', async (t) => {
  const headers = new Map(securityHeadersOf({ frameguard: { action: 'deny' }, referrerPolicy: { policy: 'no-referrer' } }))
  t.equal(headers.get('X-Frame-Options'), 'DENY')
  t.equal(headers.get('Referrer-Policy'), 'no-referrer')
  t.equal(headers.get('X-Content-Type-Options'), 'nosniff')
  t.match(headers.get('Content-Security-Policy'), /default-src 'self'/, 'helmet\'s default policy when none is given')
  t.ok(headers.size >= 10, `all of helmet's headers (${headers.size})`)
})

t.test('every answer carries the API headers: JSON, errors, 404s and hijacked responses that copy the reply\'s headers; a page replaces the CSP', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  for (const path of ['/json', '/boom', '/nope', '/raw']) {
    const res = await fetch(`${base}${path}`)
    await res.arrayBuffer()
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', path)
    t.equal(res.headers.get('referrer-policy'), 'no-referrer', path)
    t.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'", path)
    t.equal(res.headers.get('x-frame-options'), 'DENY', path)
    t.equal(res.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains', path)
    t.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin', path)
  }
  const page = await fetch(`${base}/page`)
  await page.text()
  t.equal(page.headers.get('content-security-policy'), "default-src 'self'", 'the page\'s own policy')
  t.equal(page.headers.get('x-frame-options'), 'DENY', 'and the rest of the API headers')
  t.equal(page.headers.get('content-security-policy')?.includes(','), false, 'one policy, not two')
})
