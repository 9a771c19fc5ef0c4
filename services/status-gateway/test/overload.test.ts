// A flood: the per-address request-rate limit (shared in Redis, before authorisation, probes exempt) and
// load shedding under pressure (new holds refused, held ones served).
import t, { type Test } from 'tap'
import { buildGateway, listen } from './helper.js'
import { orderEvent, tokenFor, usePublisher, waitUntil } from './support.js'

type Answer = { statusCode: number, headers: Record<string, unknown>, json: () => any }

function assertLimited (t: Test, res: Answer, what: string): void {
  t.equal(res.statusCode, 429, `${what}: 429`)
  t.ok(Number(res.headers['retry-after']) > 0, `${what}: Retry-After`)
  t.match(res.json(), { success: false, code: 'HERALD_ERR_RATE_LIMITED', error: /more than 3 requests/ }, `${what}: the error body`)
}

t.test('past GATEWAY_RATE_LIMIT_PER_MINUTE a client address gets 429 with Retry-After, before its token is looked at; probes are spared', async (t) => {
  const { app } = await buildGateway(t, { GATEWAY_RATE_LIMIT_PER_MINUTE: '3', TRUSTED_PROXIES: '10.0.0.0/8' })
  const get = (url: string, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) => app.inject({ url, remoteAddress, headers })
  for (let i = 0; i < 3; i++) t.equal((await get('/api/orders/o-flood')).statusCode, 401, `request ${i + 1}: within the limit, authorisation answers`)
  assertLimited(t, await get('/api/orders/o-flood'), 'a fourth request without a token')
  assertLimited(t, await get('/api/orders/o-flood', '127.0.0.1', { authorization: `Bearer ${tokenFor('order', 'o-flood')}` }), 'with a good token')
  t.not('HERALD_ERR_RATE_LIMITED', 'HERALD_ERR_TOO_MANY_HOLDS', 'the rate limit and the holds cap keep codes of their own')
  for (const probe of ['/healthz', '/readyz', '/metrics']) t.equal((await get(probe)).statusCode, 200, `${probe} is exempt`)

  assertLimited(t, await get('/api/orders/o-flood', '127.0.0.1', { 'x-forwarded-for': '198.51.100.9' }), 'a spoofed X-Forwarded-For from a peer not in TRUSTED_PROXIES')
  const viaProxy = await get('/api/orders/o-flood', '10.1.2.3', { 'x-forwarded-for': '198.51.100.9' })
  t.equal(viaProxy.statusCode, 401, 'behind a listed proxy the forwarded client has its own budget')
  t.equal(viaProxy.headers['x-ratelimit-remaining'], '2')
  t.equal((await get('/api/orders/o-flood', '10.1.2.4', { 'x-forwarded-for': '198.51.100.9' })).headers['x-ratelimit-remaining'], '1', 'counted by client, whichever proxy it came through')
})

t.test('replicas share one count in Redis', async (t) => {
  const first = await buildGateway(t, { GATEWAY_RATE_LIMIT_PER_MINUTE: '3' })
  const second = await buildGateway(t, { GATEWAY_RATE_LIMIT_PER_MINUTE: '3' }, { schema: first.schema, prefix: first.prefix })
  t.equal((await first.app.inject({ url: '/api/orders/o-shared' })).statusCode, 401)
  t.equal((await second.app.inject({ url: '/api/orders/o-shared' })).statusCode, 401)
  t.equal((await first.app.inject({ url: '/api/orders/o-shared' })).statusCode, 401)
  assertLimited(t, await second.app.inject({ url: '/api/orders/o-shared' }), 'the fourth request, on the other replica')
})

t.test('GATEWAY_RATE_LIMIT_PER_MINUTE=0 turns the limit off', async (t) => {
  const { app } = await buildGateway(t, { GATEWAY_RATE_LIMIT_PER_MINUTE: '0' })
  const answers = await Promise.all(Array.from({ length: 20 }, () => app.inject({ url: '/api/orders/o-open' })))
  t.same(new Set(answers.map((res) => res.statusCode)), new Set([401]))
  t.equal(answers[0]!.headers['x-ratelimit-limit'], undefined)
})

t.test('under pressure the gateway refuses new holds with 503 and Retry-After while it serves the ones it holds', async (t) => {
  // The heap limit sits above the heap of now; a ballast array pushes the process past it.
  const limit = process.memoryUsage().heapUsed + 96 * 1024 * 1024
  const { app, prefix } = await buildGateway(t, { PRESSURE_MAX_HEAP_USED_BYTES: String(limit), PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0', PRESSURE_RETRY_AFTER_SECONDS: '7' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  await publisher.publish(orderEvent('o-pressure', 1))
  const token = tokenFor('order', 'o-pressure')
  const headers = { authorization: `Bearer ${token}` }
  const held = fetch(`${base}/api/orders/o-pressure/wait?timeout=60000&since=1`, { headers }).then(async (res) => ({ status: res.status, body: await res.json() as { version: number } }))
  await waitUntil(() => app.clientHolds.count('address:127.0.0.1') === 1, 'the long-poll held')

  let ballast: number[] | null = new Array(24 * 1024 * 1024).fill(0)
  t.teardown(() => { ballast = null })
  await waitUntil(() => app.isUnderPressure(), 'the process under pressure')

  const refused = await app.inject({ url: '/api/orders/o-pressure/wait?timeout=60000&since=1', headers })
  t.equal(refused.statusCode, 503, 'a new long-poll is refused')
  t.equal(refused.headers['retry-after'], '7')
  t.match(refused.json(), { success: false, code: 'HERALD_ERR_OVERLOADED' })
  t.equal((await app.inject({ url: '/api/orders/o-pressure/events', headers })).statusCode, 503, 'a new stream too')
  t.equal((await app.inject({ url: '/api/orders/o-pressure', headers })).statusCode, 200, 'a snapshot, which holds nothing, is still answered')
  for (const probe of ['/healthz', '/readyz', '/metrics']) t.equal((await app.inject({ url: probe })).statusCode, 200, `${probe} answers`)

  await publisher.publish(orderEvent('o-pressure', 2, 'completed'))
  const answer = await held
  t.equal(answer.status, 200, 'the held long-poll is served to its end')
  t.equal(answer.body.version, 2)
  t.ok(ballast !== null && ballast.length > 0)
})
