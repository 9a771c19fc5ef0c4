// One client cannot hold more than GATEWAY_MAX_HOLDS_PER_CLIENT long-polls and streams; unknown orders are not held.
import t, { type Test } from 'tap'
import { buildGateway, listen } from './helper.js'
import { ADMIN, SseReader, orderEvent, tokenFor, usePublisher, waitUntil } from './support.js'

type App = Awaited<ReturnType<typeof buildGateway>>['app']

const stats = async (app: App) => (await app.inject({ url: '/api/stats', headers: { authorization: `Bearer ${ADMIN}` } })).json() as { longPollWaiters: number, sseStreams: number }

/** Distinct tokens for one order (their expiries differ), so only the address is shared. */
const tokens = (orderId: string, n: number) => Array.from({ length: n }, (_, i) => tokenFor('order', orderId, 600_000 + i))

function assertRefused (t: Test, res: { statusCode: number, headers: Record<string, unknown>, json: () => any }, what: string): void {
  t.equal(res.statusCode, 429, `${what}: 429`)
  t.equal(res.headers['retry-after'], '5', `${what}: Retry-After`)
  t.match(res.json(), { success: false, code: 'HERALD_ERR_TOO_MANY_HOLDS', error: /already holds 3/ }, `${what}: the error body`)
}

t.test('past the cap one client address gets 429 with Retry-After for long-polls and streams alike; an answered long-poll frees its slot', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_MAX_HOLDS_PER_CLIENT: '3' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  await publisher.publish(orderEvent('o-cap', 1))
  const [a, b, c, d] = tokens('o-cap', 4)
  const held = [a, b, c].map((token) => fetch(`${base}/api/orders/o-cap/wait?timeout=60000`, { headers: { authorization: `Bearer ${token}` } }).then((res) => res.json() as Promise<{ version: number }>))
  await waitUntil(async () => (await stats(app)).longPollWaiters === 3, 'three long-polls held')

  // inject comes from 127.0.0.1 too: the same address as the held fetches.
  assertRefused(t, await app.inject({ url: '/api/orders/o-cap/wait?timeout=60000', headers: { authorization: `Bearer ${d}` } }), 'a fourth long-poll')
  assertRefused(t, await app.inject({ url: '/api/orders/o-cap/events', headers: { authorization: `Bearer ${d}` } }), 'a stream')
  const other = await app.inject({ url: '/api/orders/o-cap/wait?timeout=0', headers: { authorization: `Bearer ${d}` }, remoteAddress: '10.0.0.9' })
  t.equal(other.statusCode, 200, 'another address is not affected')
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_gateway_holds_refused_total\{by="address"[^}]*\} 2/)

  await publisher.publish(orderEvent('o-cap', 2))
  t.same((await Promise.all(held)).map((answer) => answer.version), [2, 2, 2], 'the held long-polls are answered')
  const again = await app.inject({ url: '/api/orders/o-cap/wait?timeout=50&since=2', headers: { authorization: `Bearer ${d}` } })
  t.equal(again.statusCode, 200, 'their slots are free again')
  t.match(again.json(), { timedOut: true })
})

t.test('one token is capped from any address', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_MAX_HOLDS_PER_CLIENT: '3' })
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-tok', 1))
  const token = tokenFor('order', 'o-tok')
  const wait = (remoteAddress: string) => app.inject({ url: '/api/orders/o-tok/wait?timeout=60000', headers: { authorization: `Bearer ${token}` }, remoteAddress })
  const held = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map(wait)
  await waitUntil(async () => (await stats(app)).longPollWaiters === 3, 'three long-polls held')
  assertRefused(t, await wait('10.0.0.4'), 'the same token from a fourth address')
  t.equal((await app.inject({ url: '/api/orders/o-tok/wait?timeout=0', headers: { authorization: `Bearer ${tokenFor('order', 'o-tok', 600_100)}` }, remoteAddress: '10.0.0.4' })).statusCode, 200, 'another token from that address is fine')
  t.match((await app.inject({ url: '/metrics' })).body, /herald_gateway_holds_refused_total\{by="token"[^}]*\} 1/)
  await publisher.publish(orderEvent('o-tok', 2, 'completed'))
  t.same((await Promise.all(held)).map((res) => res.statusCode), [200, 200, 200])
})

t.test('a stream the client closes frees its slot; a timed-out long-poll too', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_MAX_HOLDS_PER_CLIENT: '2' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  await publisher.publish(orderEvent('o-sse', 1))
  const [a, b] = [new SseReader(`${base}/api/orders/o-sse/events?token=${tokenFor('order', 'o-sse', 600_001)}`), new SseReader(`${base}/api/orders/o-sse/events?token=${tokenFor('order', 'o-sse', 600_002)}`)]
  t.teardown(() => { a.close(); b.close() })
  await Promise.all([a.opened, b.opened])
  t.same([a.status, b.status], [200, 200])
  const third = new SseReader(`${base}/api/orders/o-sse/events?token=${tokenFor('order', 'o-sse', 600_003)}`)
  await third.opened
  t.equal(third.status, 429, 'a third stream is refused')
  t.equal(third.headers['retry-after'], '5')
  third.close()

  a.close()
  await waitUntil(async () => (await stats(app)).sseStreams === 1, 'the closed stream is gone')
  const after = new SseReader(`${base}/api/orders/o-sse/events?token=${tokenFor('order', 'o-sse', 600_004)}`)
  t.teardown(() => after.close())
  await after.opened
  t.equal(after.status, 200, 'its slot was freed')
  after.close()
  b.close()
  await waitUntil(async () => (await stats(app)).sseStreams === 0, 'both streams gone')

  const timedOut = await Promise.all([1, 2].map((i) => app.inject({ url: `/api/orders/o-sse/wait?timeout=50&since=1&token=${tokenFor('order', 'o-sse', 600_010 + i)}` })))
  t.same(timedOut.map((res) => res.json().timedOut), [true, true])
  const next = await app.inject({ url: `/api/orders/o-sse/wait?timeout=50&since=1&token=${tokenFor('order', 'o-sse', 600_020)}` })
  t.equal(next.statusCode, 200, 'timed-out long-polls left no slot taken')
})

t.test('GATEWAY_MAX_HOLDS_PER_CLIENT=0 turns the cap off', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_MAX_HOLDS_PER_CLIENT: '0' })
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-off', 1))
  const token = tokenFor('order', 'o-off')
  const held = Array.from({ length: 150 }, () => app.inject({ url: `/api/orders/o-off/wait?timeout=60000&token=${token}` }))
  await waitUntil(async () => (await stats(app)).longPollWaiters === 150, '150 long-polls held by one token and one address')
  await publisher.publish(orderEvent('o-off', 2, 'completed'))
  t.ok((await Promise.all(held)).every((res) => res.statusCode === 200))
})

t.test('an order stream for an id that does not exist is a 404, never held, in anonymous mode too; a registration stream may wait for its first event', async (t) => {
  const { app } = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' })
  const base = await listen(app)
  for (const headers of [{}, { authorization: `Bearer ${ADMIN}` }]) {
    const res = await app.inject({ url: '/api/orders/no-such-order/events', headers })
    t.equal(res.statusCode, 404)
    t.match(res.json(), { success: false, code: 'HERALD_ERR_NOT_FOUND', error: /no-such-order/ })
    t.equal((await app.inject({ url: '/api/orders/no-such-order/wait?timeout=1000', headers })).statusCode, 404, 'as the long-poll')
  }
  t.equal((await stats(app)).sseStreams, 0)
  // The brief's registration flow subscribes before the back office publishes the first stage.
  const early = new SseReader(`${base}/api/registrations/updates/stream?registrationId=reg-not-yet`)
  t.teardown(() => early.close())
  await early.waitFor('connected', (reader) => reader.ofType('connected').length === 1)
  t.equal(early.status, 200)
})
