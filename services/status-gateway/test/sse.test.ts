import t from 'tap'
import { buildGateway, listen } from './helper.js'
import { ADMIN, SseReader, orderEvent, registrationEvent, tokenFor, usePublisher, waitUntil } from './support.js'

const admin = { authorization: `Bearer ${ADMIN}` }

t.test('a registration stream says connected, then one update per event with its version as id, and pings', async (t) => {
  const { app, prefix } = await buildGateway(t, { SSE_PING_INTERVAL_MS: '200' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const sse = new SseReader(`${base}/api/registrations/updates/stream?registrationId=42`, { authorization: `Bearer ${tokenFor('registration', '42')}` })
  t.teardown(() => sse.close())
  await sse.opened
  t.equal(sse.status, 200)
  t.match(sse.headers['content-type'], /^text\/event-stream/)
  t.equal(sse.headers['cache-control'], 'no-cache')
  t.equal(sse.headers['x-accel-buffering'], 'no')
  await sse.waitFor('connected', (r) => r.messages.length > 0)
  t.equal(sse.messages[0]!.data.type, 'connected')
  await publisher.publish(registrationEvent('42', 1))
  await publisher.publish(registrationEvent('42', 2))
  await publisher.publish(registrationEvent('other', 1))
  await sse.waitFor('two updates', (r) => r.ofType('update').length === 2)
  t.same(sse.ofType('update').map((m) => m.id), ['1', '2'])
  t.match(sse.ofType('update')[1]!.data, { type: 'update', data: { registrationId: '42', status: 'PENDING', stage: 'stage_2', stageStatus: 'completed', message: 'step 2' } })
  await sse.waitFor('a ping', (r) => r.ofType('ping').length > 0)
  t.match(sse.ofType('ping')[0]!.data, { type: 'ping', timestamp: Number })
  t.equal(sse.ofType('update').length, 2, 'nothing from another registration')
})

t.test('a client that reconnects after 3 of 8 events with the last id gets exactly the 5 it missed, in order, then live', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const token = tokenFor('registration', 'r-8')
  const first = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-8&token=${token}`)
  await first.waitFor('connected', (r) => r.messages.length > 0)
  for (let v = 1; v <= 3; v++) await publisher.publish(registrationEvent('r-8', v))
  await first.waitFor('three updates', (r) => r.ofType('update').length === 3)
  first.close()
  await waitUntil(() => app.streamFanout.size === 0, 'the first stream to be removed')
  for (let v = 4; v <= 8; v++) await publisher.publish(registrationEvent('r-8', v))
  const lastId = first.ofType('update').at(-1)!.id!
  t.equal(lastId, '3')
  const second = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-8&token=${token}`, { 'last-event-id': lastId })
  t.teardown(() => second.close())
  await second.waitFor('the five missed', (r) => r.ofType('update').length === 5)
  await publisher.publish(registrationEvent('r-8', 9))
  await second.waitFor('the live one', (r) => r.ofType('update').length === 6)
  t.same(second.ofType('update').map((m) => m.id), ['4', '5', '6', '7', '8', '9'], 'missed ones in order, then live, no duplicates')
  t.same(second.messages.map((m) => m.data.type).slice(0, 2), ['connected', 'update'])
})

t.test('replay and live events racing each other give no duplicates and no gaps', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  for (let v = 1; v <= 20; v++) await publisher.publish(registrationEvent('r-race', v))
  const sse = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-race&lastEventId=5`, admin)
  t.teardown(() => sse.close())
  // Publish while the replay runs.
  for (let v = 21; v <= 60; v++) await publisher.publish(registrationEvent('r-race', v))
  await sse.waitFor('versions 6..60', (r) => r.ofType('update').length >= 55)
  t.same(sse.ofType('update').map((m) => Number(m.id)), Array.from({ length: 55 }, (_, i) => i + 6))
})

t.test('an id older than the history gets a reset with the current snapshot; a malformed one too', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix, { historyMax: 3 })
  const base = await listen(app)
  for (let v = 1; v <= 6; v++) await publisher.publish(registrationEvent('r-old', v))
  const trimmed = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-old`, { ...admin, 'last-event-id': '1' })
  t.teardown(() => trimmed.close())
  await trimmed.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  t.match(trimmed.ofType('reset')[0]!.data, { type: 'reset', reason: 'retention', data: { registrationId: 'r-old', version: 6 } })
  await publisher.publish(registrationEvent('r-old', 7))
  await trimmed.waitFor('live after the reset', (r) => r.ofType('update').length === 1)
  t.equal(trimmed.ofType('update')[0]!.id, '7')

  const malformed = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-old&lastEventId=abc%0Aevent:x`, admin)
  t.teardown(() => malformed.close())
  await malformed.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  t.match(malformed.ofType('reset')[0]!.data, { reason: 'malformed_id', data: { version: 7 } })

  const future = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-old&lastEventId=99`, admin)
  t.teardown(() => future.close())
  await future.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  t.match(future.ofType('reset')[0]!.data, { reason: 'unknown_id', data: { version: 7 } })
})

t.test('the order stream carries the order snapshot with its version as id; customer only for its token', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  // The order exists before anyone follows it (an unknown order's stream is a 404).
  await publisher.publish(orderEvent('o-sse', 1))
  const owner = new SseReader(`${base}/api/orders/o-sse/events?token=${tokenFor('order', 'o-sse')}`)
  const anonymous = new SseReader(`${base}/api/orders/o-sse/events`)
  t.teardown(() => { owner.close(); anonymous.close() })
  await owner.waitFor('connected', (r) => r.messages.length > 0)
  await anonymous.waitFor('connected', (r) => r.messages.length > 0)
  await publisher.publish(orderEvent('o-sse', 2))
  await publisher.publish(orderEvent('o-sse', 3, 'completed'))
  await owner.waitFor('two updates', (r) => r.ofType('update').length === 2)
  await anonymous.waitFor('two updates', (r) => r.ofType('update').length === 2)
  t.same(owner.ofType('update').map((m) => m.id), ['2', '3'])
  t.match(owner.ofType('update')[1]!.data, { data: { orderId: 'o-sse', paymentStatus: 'completed', customer: { email: 'jane@example.com' } } })
  t.equal((anonymous.ofType('update')[1]!.data.data as { customer: unknown }).customer, null, 'no customer without a token')
  t.notMatch(JSON.stringify(anonymous.messages), /jane@example\.com/)
})

t.test('the all-registrations feed needs the admin token, uses <registrationId>:<version> ids, and resets on reconnect', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const denied = await fetch(`${base}/api/registrations/updates/stream`)
  t.equal(denied.status, 401, 'anonymous mode does not open the admin feed')
  t.match(await denied.json(), { success: false, code: 'HERALD_ERR_UNAUTHORIZED' })
  const wrong = await fetch(`${base}/api/registrations/updates/stream?token=${tokenFor('registration', '1')}`)
  t.equal(wrong.status, 403)
  await wrong.body?.cancel()

  const feed = new SseReader(`${base}/api/registrations/updates/stream?token=${ADMIN}`)
  t.teardown(() => feed.close())
  await feed.waitFor('connected', (r) => r.messages.length > 0)
  await publisher.publish(registrationEvent('a', 1))
  await publisher.publish(registrationEvent('b', 1))
  await publisher.publish(orderEvent('not-a-registration', 1))
  await feed.waitFor('two updates', (r) => r.ofType('update').length === 2)
  t.same(feed.ofType('update').map((m) => m.id), ['a:1', 'b:1'])

  const again = new SseReader(`${base}/api/registrations/updates/stream`, { ...admin, 'last-event-id': 'b:1' })
  t.teardown(() => again.close())
  await again.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  t.match(again.ofType('reset')[0]!.data, { reason: 'retention', data: null })
})

t.test('the all-orders feed needs the admin token, carries full snapshots with <orderId>:<version> ids, and resets on reconnect', async (t) => {
  const { app, prefix } = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const denied = await fetch(`${base}/api/orders/updates/stream`)
  t.equal(denied.status, 401, 'anonymous mode does not open the admin feed')
  t.match(await denied.json(), { success: false, code: 'HERALD_ERR_UNAUTHORIZED', error: /all-orders feed/ })
  const wrong = await fetch(`${base}/api/orders/updates/stream?token=${tokenFor('order', 'o-a')}`)
  t.equal(wrong.status, 403, 'a token for one order does not open every order')
  await wrong.body?.cancel()

  const feed = new SseReader(`${base}/api/orders/updates/stream`, admin)
  t.teardown(() => feed.close())
  await feed.opened
  t.match(feed.headers['content-type'], /^text\/event-stream/)
  await feed.waitFor('connected', (r) => r.messages.length > 0)
  t.equal(feed.messages[0]!.data.type, 'connected')
  await publisher.publish(orderEvent('o-a', 1))
  await publisher.publish(registrationEvent('not-an-order', 1))
  await publisher.publish(orderEvent('o-b', 1))
  await publisher.publish(orderEvent('o-a', 2, 'completed'))
  await feed.waitFor('three updates', (r) => r.ofType('update').length === 3)
  t.same(feed.ofType('update').map((m) => m.id), ['o-a:1', 'o-b:1', 'o-a:2'], 'every order, in the order published, no registration')
  t.match(feed.ofType('update')[2]!.data, {
    type: 'update',
    data: { orderId: 'o-a', version: 2, paymentStatus: 'completed', customer: { email: 'jane@example.com' }, payment: { receipt: 'QKX123' } }
  }, 'the full snapshot, customer included (admin)')

  const again = new SseReader(`${base}/api/orders/updates/stream?token=${ADMIN}`, { 'last-event-id': 'o-a:2' })
  t.teardown(() => again.close())
  await again.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  t.match(again.ofType('reset')[0]!.data, { type: 'reset', reason: 'retention', data: null }, 'no replay: a reset with no snapshot')
  await publisher.publish(orderEvent('o-c', 1))
  await again.waitFor('live after the reset', (r) => r.ofType('update').length === 1)
  t.equal(again.ofType('update')[0]!.id, 'o-c:1')
  t.same(again.messages.map((m) => m.data.type).slice(0, 3), ['connected', 'reset', 'update'])

  const malformed = new SseReader(`${base}/api/orders/updates/stream?token=${ADMIN}&lastEventId=nonsense`)
  t.teardown(() => malformed.close())
  await malformed.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  t.match(malformed.ofType('reset')[0]!.data, { reason: 'malformed_id', data: null })
})

t.test('an order named `updates` is still an order: only /api/orders/updates/stream is the feed', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('updates', 1))
  const snapshot = await app.inject({ method: 'GET', url: '/api/orders/updates', headers: admin })
  t.equal(snapshot.statusCode, 200)
  t.match(snapshot.json(), { orderId: 'updates', version: 1 })
  const wait = await app.inject({ method: 'GET', url: '/api/orders/updates/wait?since=0', headers: admin })
  t.equal(wait.statusCode, 200)
  t.match(wait.json(), { orderId: 'updates', version: 1, timedOut: false })
})

t.test('a client that does not read is disconnected once its buffer passes the cap', async (t) => {
  const { app, prefix } = await buildGateway(t, { SSE_MAX_BUFFER_BYTES: '65536' })
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const { request } = await import('node:http')
  // A client that never reads: its socket fills, then the server-side buffer grows.
  const slow = request(`${base}/api/registrations/updates/stream?registrationId=r-slow&token=${ADMIN}`)
  slow.on('error', () => {})
  let response: import('node:http').IncomingMessage | undefined
  slow.on('response', (res) => { response = res; res.pause() })
  slow.end()
  await waitUntil(() => response !== undefined, 'the stream to open')
  const big = 'x'.repeat(100_000)
  let version = 0
  while (app.streamFanout.size > 0 && version < 400) {
    await publisher.publish(registrationEvent('r-slow', ++version, { details: { blob: big } }))
    if (version % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await waitUntil(() => app.streamFanout.size === 0, 'the slow client to be cut off')
  t.equal(app.streamFanout.size, 0)
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_gateway_sse_slow_client_disconnects_total\{service="status-gateway"\} 1/)
  slow.destroy()
})

t.test('closing the gateway ends SSE streams with a closing message and a retry hint', async (t) => {
  const { app } = await buildGateway(t, { SSE_RETRY_MS: '1500' })
  const base = await listen(app)
  const sse = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-close`, admin)
  await sse.waitFor('connected', (r) => r.messages.length > 0)
  await app.close()
  await sse.waitFor('the end', (r) => r.ended)
  const closing = sse.ofType('closing')
  t.equal(closing.length, 1)
  t.equal(closing[0]!.retry, 1500)
  t.match(closing[0]!.data, { type: 'closing', reason: 'shutdown', retryMs: 1500 })
})
