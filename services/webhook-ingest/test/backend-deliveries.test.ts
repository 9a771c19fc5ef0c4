import t from 'tap'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { buildIngest, darajaCallback, eventually, freePort, orderBody, postCallback, putOrder, signedHeaders } from './helper.js'
import { BACKEND_SECRET, BackendReceiver, startReceiver, versionsByEntity } from './support/backend-receiver.js'

type App = Awaited<ReturnType<typeof buildIngest>>['app']

const backendEnv = (urls: string[], retry = '0,50,50,50') => ({
  BACKEND_WEBHOOK_URLS: urls.join(','),
  BACKEND_WEBHOOK_SECRET: BACKEND_SECRET,
  BACKEND_WEBHOOK_RETRY_MS: retry
})
const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` }

/** `orders` orders, each registered then moved twice (processing on an unknown code, then cancelled): versions 1..3. */
async function threeVersionsEach (app: App, prefix: string, orders: number): Promise<void> {
  await Promise.all(Array.from({ length: orders }, async (_, i) => {
    const checkout = `ws_CO_${prefix}_${i}`
    const answers = [await putOrder(app, `${prefix}_${i}`, orderBody({ references: { checkoutRequestId: checkout } }))]
    for (const code of [7001, 1032]) answers.push(await postCallback(app, 'mpesa', darajaCallback(checkout, code)))
    if (answers.some((a) => a.statusCode !== 200)) throw new Error(`answered ${answers.map((a) => a.statusCode).join()}`)
  }))
}

async function endpointHealth (app: App) {
  const res = await app.inject({ method: 'GET', url: '/v1/backend-endpoints', headers: admin })
  return res.json().endpoints as Array<{ endpointId: string, undelivered: number, retrying: number, deadLettered: number, consecutiveFailures: number, state: string }>
}

/** Every configured endpoint has taken every committed event (its cursor is at the end, no retries). */
async function allTaken (app: App): Promise<boolean> {
  return (await endpointHealth(app)).every((e) => e.undelivered === 0)
}

t.test('a payment completed by a Daraja callback reaches the receiver signed, once per webhook-id', async (t) => {
  const receiver = await startReceiver(t)
  const { app } = await buildIngest(t, backendEnv([receiver.url]))
  t.equal((await putOrder(app, 'ord_paid', orderBody({ references: { checkoutRequestId: 'ws_CO_paid' } }))).statusCode, 200)
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_paid', 0))).statusCode, 200)
  await eventually(() => receiver.delivered.length >= 2, 20_000, 'both versions at the receiver')
  await eventually(() => allTaken(app), 20_000, 'the cursor past both events')
  t.equal(receiver.received.length, 2, 'two requests, no repeat')
  t.ok(receiver.received.every((r) => r.verified), 'every request verifies with the back-end secret')
  t.equal(new Set(receiver.received.map((r) => r.webhookId)).size, 2, 'one webhook-id per event')
  t.match(receiver.received.map((r) => r.webhookId), [/^evt_[0-9]+$/, /^evt_[0-9]+$/])
  const [registered, paid] = receiver.received.map((r) => r.body)
  t.match(registered, { type: 'order.updated', data: { orderId: 'ord_paid', version: 1, paymentStatus: 'pending' } })
  t.match(paid, {
    type: 'order.updated',
    data: { orderId: 'ord_paid', version: 2, paymentStatus: 'completed', status: 'paid', customer: { email: 'jane.doe@example.com' }, payment: { outcome: 'completed', receipt: 'QKH94M1Z11' } }
  }, 'the full snapshot, customer included')
  t.equal(paid!.timestamp, paid!.data.updatedAt)
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /herald_ingest_backend_delivery_attempts_total\{endpoint="ep_[0-9a-f]{16}",result="delivered"[^}]*\} 2/)
  t.match(metrics, /herald_ingest_backend_undelivered\{endpoint="ep_[0-9a-f]{16}"[^}]*\} 0/)
})

t.test('a receiver that fails twice gets the event on the third attempt, with the same webhook-id', async (t) => {
  const receiver = await startReceiver(t)
  const answers = [500, 503]
  receiver.respond = () => answers.shift() ?? 200
  const { app } = await buildIngest(t, backendEnv([receiver.url]))
  t.equal((await putOrder(app, 'ord_retry', orderBody())).statusCode, 200)
  await eventually(() => receiver.delivered.length === 1, 20_000, 'the third attempt')
  t.same(receiver.received.map((r) => r.status), [500, 503, 200])
  t.equal(new Set(receiver.received.map((r) => r.webhookId)).size, 1, 'the same webhook-id every time')
  await eventually(() => allTaken(app), 20_000, 'the retry row gone')
  const [health] = await endpointHealth(app)
  t.match(health, { state: 'healthy', consecutiveFailures: 0, retrying: 0 })
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /herald_ingest_backend_delivery_attempts_total\{endpoint="ep_[0-9a-f]{16}",result="failed"[^}]*\} 2/)
})

t.test('a receiver down for a while gets everything when it returns, in order per entity', async (t) => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/herald`
  const { app } = await buildIngest(t, backendEnv([url], '0,100,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200,200'))
  await threeVersionsEach(app, 'down', 6)
  await eventually(async () => (await endpointHealth(app))[0]!.consecutiveFailures > 0, 20_000, 'the endpoint to be seen failing')
  t.equal((await endpointHealth(app))[0]!.state, 'failing')
  const receiver = await new BackendReceiver().listen(port)
  t.teardown(() => receiver.close())
  await eventually(() => receiver.delivered.length >= 18, 30_000, 'all 18 events')
  await eventually(() => allTaken(app), 20_000, 'nothing left to take')
  const versions = versionsByEntity(receiver.delivered)
  t.equal(versions.size, 6)
  t.ok([...versions.values()].every((v) => v.join() === '1,2,3'), `versions 1,2,3 in order for every order: ${JSON.stringify([...versions])}`)
  t.equal(new Set(receiver.delivered.map((r) => r.webhookId)).size, 18, 'each event once')
})

t.test('an ingest that stops with deliveries pending loses none: the next process sends them', async (t) => {
  const receiver = await startReceiver(t)
  // First process: commits and dies before sending anything.
  const first = await buildIngest(t, backendEnv([receiver.url]), { deliveries: { delivering: false } })
  await threeVersionsEach(first.app, 'dead1', 3)
  await first.app.close()
  // Second process: sends, but the receiver answers 503, so the events wait in retries; then it stops too.
  receiver.respond = () => 503
  const same = { schema: first.schema, prefix: first.prefix }
  const second = await buildIngest(t, backendEnv([receiver.url], '0,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100,100'), same)
  await threeVersionsEach(second.app, 'dead2', 3)
  await eventually(async () => (await endpointHealth(second.app))[0]!.retrying > 0, 20_000, 'events waiting in retries')
  await second.app.close()
  t.equal(receiver.delivered.length, 0, 'nothing delivered so far')
  // Third process, receiver back.
  receiver.respond = () => 200
  const third = await buildIngest(t, backendEnv([receiver.url]), same)
  await eventually(() => receiver.delivered.length >= 18, 30_000, 'all 18 events')
  await eventually(() => allTaken(third.app), 20_000, 'nothing left to take')
  const versions = versionsByEntity(receiver.delivered)
  t.equal(versions.size, 6)
  t.ok([...versions.values()].every((v) => v.join() === '1,2,3'), 'every order complete and in order')
})

t.test('two replicas share an endpoint without sending anything twice', async (t) => {
  const receiver = await startReceiver(t)
  const a = await buildIngest(t, backendEnv([receiver.url]))
  const b = await buildIngest(t, backendEnv([receiver.url]), { schema: a.schema, prefix: a.prefix })
  await Promise.all([threeVersionsEach(a.app, 'repA', 5), threeVersionsEach(b.app, 'repB', 5)])
  await eventually(() => receiver.delivered.length >= 30, 30_000, 'all 30 events')
  await eventually(() => allTaken(a.app), 20_000, 'nothing left to take')
  t.equal(receiver.received.length, 30, 'thirty requests')
  t.equal(new Set(receiver.received.map((r) => r.webhookId)).size, 30, 'no webhook-id twice')
  t.ok([...versionsByEntity(receiver.delivered).values()].every((v) => v.join() === '1,2,3'), 'in order per order')
})

t.test('a dead endpoint does not slow a live one', async (t) => {
  const live = await startReceiver(t)
  const dead = await startReceiver(t)
  dead.respond = () => new Promise<number>(() => {}) // accepts, never answers
  const { app } = await buildIngest(t, backendEnv([dead.url, live.url]))
  await threeVersionsEach(app, 'live', 5)
  await eventually(() => live.delivered.length >= 15, 20_000, 'all 15 events at the live endpoint')
  t.ok(dead.arrived >= 1, 'the dead endpoint was tried')
  t.equal(dead.received.length, 0, 'and has not answered once: its first attempt is still waiting out its 15 s')
  t.ok([...versionsByEntity(live.delivered).values()].every((v) => v.join() === '1,2,3'))
  await dead.close() // ends the hanging attempt so the app closes at once
})

t.test('a poison event is dead-lettered after its last attempt, listed, and re-delivered on request', async (t) => {
  const receiver = await startReceiver(t)
  let refuse = true
  receiver.respond = ({ body }) => refuse && body.type === 'order.updated' && body.data.orderId === 'ord_poison' ? 422 : 200
  const { app } = await buildIngest(t, backendEnv([receiver.url], '0,20,20'))
  t.equal((await putOrder(app, 'ord_poison', orderBody({ orderNumber: 'INV-P' }))).statusCode, 200)
  t.equal((await putOrder(app, 'ord_fine', orderBody({ orderNumber: 'INV-F' }))).statusCode, 200)
  await eventually(async () => (await endpointHealth(app))[0]!.deadLettered === 1, 20_000, 'a dead letter')
  t.ok(receiver.delivered.some((r) => r.body.type === 'order.updated' && r.body.data.orderId === 'ord_fine'), 'the other order went through')
  const poisoned = receiver.received.filter((r) => r.status === 422)
  t.equal(poisoned.length, 3, 'three attempts, as the schedule says')
  t.equal(new Set(poisoned.map((r) => r.webhookId)).size, 1)

  t.equal((await app.inject({ method: 'GET', url: '/v1/backend-endpoints/dead-letters' })).statusCode, 401, 'admin only')
  const listed = await app.inject({ method: 'GET', url: '/v1/backend-endpoints/dead-letters', headers: admin })
  t.equal(listed.statusCode, 200)
  const [letter] = listed.json().deadLetters
  t.match(letter, { entityType: 'order', entityId: 'ord_poison', attempts: 3, lastStatus: 422, lastError: 'HTTP 422', redeliveredAt: null })
  t.equal(`evt_${letter.cursor}`, poisoned[0]!.webhookId)
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /herald_ingest_backend_dead_letters_total\{endpoint="ep_[0-9a-f]{16}"[^}]*\} 1/)

  t.equal((await app.inject({ method: 'POST', url: '/v1/backend-endpoints/dead-letters/999999/redeliver', headers: admin })).statusCode, 404)
  refuse = false
  const redeliver = await app.inject({ method: 'POST', url: `/v1/backend-endpoints/dead-letters/${letter.id}/redeliver`, headers: admin })
  t.equal(redeliver.statusCode, 200)
  t.ok(redeliver.json().deadLetter.redeliveredAt)
  await eventually(() => receiver.delivered.some((r) => r.webhookId === poisoned[0]!.webhookId), 20_000, 'the redelivery')
  t.equal((await endpointHealth(app))[0]!.deadLettered, 0, 'no longer counted as dead')
})

t.test('retention keeps outbox rows an endpoint has not taken yet', async (t) => {
  const receiver = await startReceiver(t)
  const { app } = await buildIngest(t, backendEnv([receiver.url]), { deliveries: { delivering: false } })
  await putOrder(app, 'ord_keep', orderBody())
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending')).rows.length === 0, 20_000, 'published')
  await app.pgPool.query("update outbox set created_at = now() - interval '8 days'")
  t.same(await app.recordRetention.sweep(), { outbox: 0, receipts: 0 }, 'the undelivered row stays')
  await app.pgPool.query('update delivery_cursors set position = (select max(id) from outbox)')
  t.same(await app.recordRetention.sweep(), { outbox: 1, receipts: 0 }, 'once taken, it goes')
})

t.test('Retry-After is honoured: the next attempt waits as long as the receiver asked', async (t) => {
  const receiver = await startReceiver(t)
  let first = true
  receiver.respond = (_received, res) => {
    if (!first) return 200
    first = false
    res.writeHead(429, { 'retry-after': '1' })
    return 429
  }
  const { app } = await buildIngest(t, backendEnv([receiver.url], '0,10,10'))
  await putOrder(app, 'ord_later', orderBody())
  await eventually(() => receiver.delivered.length === 1, 20_000, 'the second attempt')
  const [refused, taken] = receiver.received
  t.same([refused!.status, taken!.status], [429, 200])
  t.ok(taken!.at - refused!.at >= 1000, `asked for 1 s, waited ${taken!.at - refused!.at} ms (the schedule alone says 10 ms)`)
})

t.test('BACKEND_WEBHOOK_EVENTS: only the listed types are sent; registrations go as registration.updated', async (t) => {
  const orders = await startReceiver(t)
  const everything = await startReceiver(t)
  const { app } = await buildIngest(t, backendEnv([everything.url]))
  // A second ingest on the same database, sending only order events to another endpoint.
  const { app: ordersOnly } = await buildIngest(t, { ...backendEnv([orders.url]), BACKEND_WEBHOOK_EVENTS: 'order.updated' }, { schema: (await app.pgPool.query('select current_schema() as s')).rows[0].s })
  const payload = JSON.stringify({ type: 'stage', stage: 'duplicate_check', status: 'started', message: 'checking' })
  t.equal((await app.inject({ method: 'POST', url: '/v1/registrations/reg_1/events', payload, headers: signedHeaders(payload) })).statusCode, 200)
  t.equal((await putOrder(app, 'ord_typed', orderBody())).statusCode, 200)
  await eventually(() => everything.delivered.length === 2, 20_000, 'both events at the unfiltered endpoint')
  await eventually(() => allTaken(ordersOnly), 20_000, 'the filtered endpoint past both events')
  t.match(everything.delivered.map((r) => r.body), [
    { type: 'registration.updated', data: { registrationId: 'reg_1', version: 1, stage: 'duplicate_check', status: 'PROCESSING' } },
    { type: 'order.updated', data: { orderId: 'ord_typed' } }
  ])
  t.same(orders.received.map((r) => r.body.type), ['order.updated'], 'the registration event was passed over')
})

t.test('configuration: URLs need a secret', async (t) => {
  await t.rejects(buildIngest(t, { BACKEND_WEBHOOK_URLS: 'http://127.0.0.1:1/x' }), /BACKEND_WEBHOOK_SECRET/)
  await t.rejects(buildIngest(t, { ...backendEnv(['http://127.0.0.1:1/x']), BACKEND_WEBHOOK_RETRY_MS: '0,5s' }), /BACKEND_WEBHOOK_RETRY_MS/)
  await t.rejects(buildIngest(t, { ...backendEnv(['http://127.0.0.1:1/x']), BACKEND_WEBHOOK_EVENTS: 'order.paid' }), /BACKEND_WEBHOOK_EVENTS/)
})
