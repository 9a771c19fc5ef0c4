// Every SSE message in the shape the registration design Herald replaces sent: field by field, for live,
// replayed and reset streams, the all-registrations feed, and the order streams' epoch-ms timestamps.
import tap from 'tap'
import type { RegistrationEvent } from '@herald/contracts'
import { buildGateway, listen } from './helper.js'
import { ADMIN, SseReader, orderEvent, registrationEvent, tokenFor, usePublisher, type SseMessage } from './support.js'

const admin = { authorization: `Bearer ${ADMIN}` }
const AT = '2023-12-13T18:43:20.000Z'
const AT_MS = 1702493000000
const processLog = [
  { stage: 'duplicate_check', status: 'completed' as const, message: 'No duplicate found', timestamp: AT },
  { stage: 't24_lookup', status: 'completed' as const, message: 'Found 5 accounts', timestamp: AT }
]

/** What the ingest records for a registration: a stage without a message (as recorded before the default), one with, the verdict. */
function story (id: string): RegistrationEvent[] {
  return [
    registrationEvent(id, 1, { status: 'started', stage: 'duplicate_check', message: '', timestamp: AT }),
    registrationEvent(id, 2, { status: 'completed', stage: 't24_lookup', message: 'Found 5 accounts', timestamp: AT, details: { accountsFound: 5 } }),
    registrationEvent(id, 3, { status: 'APPROVED', stage: 'final', message: 'Customer validated successfully', timestamp: AT, details: { accountsFound: 5 }, processLog })
  ]
}

/** The old design's messages for `story(id)`, exactly. */
function oldShape (id: string): unknown[] {
  return [
    { type: 'update', data: { registrationId: id, status: 'PENDING', stage: 'duplicate_check', stageStatus: 'started', message: 'started: duplicate_check', timestamp: AT_MS }, timestamp: AT_MS },
    { type: 'update', data: { registrationId: id, status: 'PENDING', stage: 't24_lookup', stageStatus: 'completed', message: 'Found 5 accounts', timestamp: AT_MS, details: { accountsFound: 5 } }, timestamp: AT_MS },
    { type: 'update', data: { registrationId: id, status: 'APPROVED', message: 'Customer validated successfully', timestamp: AT_MS, processLog, details: { accountsFound: 5 } }, timestamp: AT_MS }
  ]
}

const updates = (reader: SseReader) => reader.ofType('update').map((m) => m.data)

function isNow (t: Pick<typeof tap, 'equal' | 'ok'>, message: SseMessage, what: string): void {
  const at = message.data.timestamp
  t.equal(typeof at, 'number', `${what}: timestamp is epoch milliseconds`)
  t.ok(Math.abs((at as number) - Date.now()) < 60_000, `${what}: and close to now`)
}

tap.test('live: connected, PENDING stages with stageStatus and the old default message, a final update without a stage, pings', async (t) => {
  const { app, prefix } = await buildGateway(t, { SSE_PING_INTERVAL_MS: '200' })
  const { publisher } = usePublisher(t, prefix)
  const sse = new SseReader(`${await listen(app)}/api/registrations/updates/stream?registrationId=42&token=${tokenFor('registration', '42')}`)
  t.teardown(() => sse.close())
  await sse.waitFor('connected', (r) => r.messages.length > 0)
  t.same(Object.keys(sse.messages[0]!.data), ['type', 'timestamp'])
  isNow(t, sse.messages[0]!, 'connected')
  for (const event of story('42')) await publisher.publish(event)
  await sse.waitFor('three updates', (r) => r.ofType('update').length === 3)
  t.same(updates(sse), oldShape('42'))
  t.same(Object.keys(sse.ofType('update')[0]!.data.data as object), ['registrationId', 'status', 'stage', 'stageStatus', 'message', 'timestamp'], 'the old field order')
  t.notOk('stage' in (sse.ofType('update')[2]!.data.data as object), 'the final update has no stage')
  t.same(sse.ofType('update').map((m) => m.id), ['1', '2', '3'])
  await sse.waitFor('a ping', (r) => r.ofType('ping').length > 0)
  t.same(Object.keys(sse.ofType('ping')[0]!.data), ['type', 'timestamp'])
  isNow(t, sse.ofType('ping')[0]!, 'ping')
})

tap.test('replayed: the missed updates arrive exactly as live ones did', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  for (const event of story('r-replay')) await publisher.publish(event)
  const base = await listen(app)
  const fromStart = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-replay&lastEventId=0`, admin)
  const afterFirst = new SseReader(`${base}/api/registrations/updates/stream?registrationId=r-replay`, { ...admin, 'last-event-id': '1' })
  t.teardown(() => { fromStart.close(); afterFirst.close() })
  await fromStart.waitFor('the whole story', (r) => r.ofType('update').length === 3)
  await afterFirst.waitFor('the two missed', (r) => r.ofType('update').length === 2)
  t.same(updates(fromStart), oldShape('r-replay'))
  t.same(updates(afterFirst), oldShape('r-replay').slice(1))
  t.same(afterFirst.ofType('update').map((m) => m.id), ['2', '3'])
})

tap.test('reset: an epoch-ms timestamp beside the snapshot (ISO times kept), then live updates in the old shape', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix, { historyMax: 1 })
  const [first, second, third] = story('r-reset')
  await publisher.publish(first!)
  await publisher.publish(second!)
  const sse = new SseReader(`${await listen(app)}/api/registrations/updates/stream?registrationId=r-reset`, { ...admin, 'last-event-id': '0' })
  t.teardown(() => sse.close())
  await sse.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  const reset = sse.ofType('reset')[0]!
  t.same(Object.keys(reset.data), ['type', 'reason', 'data', 'timestamp'])
  t.match(reset.data, { type: 'reset', reason: 'retention', data: { registrationId: 'r-reset', version: 2, createdAt: /^\d{4}-\d\d-\d\dT/, updatedAt: /^\d{4}-\d\d-\d\dT/ } })
  isNow(t, reset, 'reset')
  await publisher.publish(third!)
  await sse.waitFor('the live verdict', (r) => r.ofType('update').length === 1)
  t.same(updates(sse), [oldShape('r-reset')[2]])
  t.same(sse.messages.map((m) => m.data.type), ['connected', 'reset', 'update'])
})

tap.test('the all-registrations feed sends the same shape', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const feed = new SseReader(`${await listen(app)}/api/registrations/updates/stream`, admin)
  t.teardown(() => feed.close())
  await feed.waitFor('connected', (r) => r.messages.length > 0)
  isNow(t, feed.messages[0]!, 'connected')
  for (const event of story('r-all')) await publisher.publish(event)
  await feed.waitFor('three updates', (r) => r.ofType('update').length === 3)
  t.same(updates(feed), oldShape('r-all'))
  t.same(feed.ofType('update').map((m) => m.id), ['r-all:1', 'r-all:2', 'r-all:3'])
})

tap.test('order streams: epoch-ms timestamps on every message, ISO times kept inside the snapshot; closing too', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const event = orderEvent('o-ms', 1)
  event.occurredAt = AT
  await publisher.publish(event)
  const sse = new SseReader(`${base}/api/orders/o-ms/events?token=${tokenFor('order', 'o-ms')}&lastEventId=0`)
  const reset = new SseReader(`${base}/api/orders/o-ms/events?token=${tokenFor('order', 'o-ms')}&lastEventId=nonsense`)
  const feed = new SseReader(`${base}/api/orders/updates/stream`, admin)
  await sse.waitFor('the replayed update', (r) => r.ofType('update').length === 1)
  await reset.waitFor('a reset', (r) => r.ofType('reset').length === 1)
  await feed.waitFor('connected', (r) => r.messages.length > 0)
  isNow(t, sse.messages[0]!, 'connected')
  const update = sse.ofType('update')[0]!.data
  t.same(Object.keys(update), ['type', 'data', 'timestamp'])
  t.equal(update.timestamp, AT_MS, 'when the change happened')
  t.match(update.data, { orderId: 'o-ms', version: 1, createdAt: /^\d{4}-\d\d-\d\dT/, updatedAt: /^\d{4}-\d\d-\d\dT/ })
  isNow(t, reset.ofType('reset')[0]!, 'reset')
  await publisher.publish(orderEvent('o-ms', 2, 'completed'))
  await feed.waitFor('the live update', (r) => r.ofType('update').length === 1)
  t.equal(typeof feed.ofType('update')[0]!.data.timestamp, 'number')

  await app.close()
  for (const reader of [sse, reset, feed]) {
    await reader.waitFor('the end', (r) => r.ended)
    const closing = reader.ofType('closing')[0]!
    t.same(Object.keys(closing.data), ['type', 'reason', 'retryMs', 'timestamp'])
    isNow(t, closing, 'closing')
  }
})

tap.test('the OpenAPI document describes every SSE message, each with an epoch-ms timestamp', async (t) => {
  const { app } = await buildGateway(t)
  const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
  for (const path of ['/api/registrations/updates/stream', '/api/orders/{orderId}/events', '/api/orders/updates/stream']) {
    const messages = document.paths[path].get.responses['200'].content['text/event-stream'].schema.anyOf as Array<{ properties: Record<string, any> }>
    t.same(messages.map((m) => m.properties.type.enum[0]), ['connected', 'ping', 'closing', 'update', 'reset'], path)
    for (const message of messages) t.same(message.properties.timestamp, { type: 'integer', minimum: 0 }, `${path} ${message.properties.type.enum[0]}`)
  }
  const update = document.paths['/api/registrations/updates/stream'].get.responses['200'].content['text/event-stream'].schema.anyOf[3].properties.data
  t.same(update.required, ['registrationId', 'status', 'message', 'timestamp'], 'stage and stageStatus are optional: the verdict has neither')
  t.same(update.properties.timestamp, { type: 'integer', minimum: 0 })
})
