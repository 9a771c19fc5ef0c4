import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { EventPublisher, createRedisClient, type PublishResult, type StreamEntry } from '@herald/streams'
import type { OrderEvent, StreamEvent } from '@herald/contracts'
import { OutboxRelay, SWEEP_BEGIN, SWEEP_DUE } from '../src/outbox/relay.js'
import {
  buildIngest, eventually, freePort, orderBody, postCallback, putOrder, streamEntries, testRedis
} from './helper.js'

type App = Awaited<ReturnType<typeof buildIngest>>['app']

const ORDERS = 25
const CALLBACKS_PER_ORDER = 4

function darajaCallback (checkoutRequestId: string, resultCode: number): string {
  return JSON.stringify({ Body: { stkCallback: { MerchantRequestID: 'm-1', CheckoutRequestID: checkoutRequestId, ResultCode: resultCode, ResultDesc: `result ${resultCode}` } } })
}

/** 25 orders, then 4 callbacks each (3 unknown codes, then a cancel): 125 events, versions 1..5 per order. */
async function registerAndPay (t: Test, app: App): Promise<void> {
  const statuses: number[] = []
  await Promise.all(Array.from({ length: ORDERS }, async (_, i) => {
    const put = await putOrder(app, `ord_${i}`, orderBody({ references: { checkoutRequestId: `ws_CO_${i}` } }))
    statuses.push(put.statusCode)
    for (const code of [7001, 7002, 7003, 1032]) {
      statuses.push((await postCallback(app, 'mpesa', darajaCallback(`ws_CO_${i}`, code))).statusCode)
    }
  }))
  t.equal(statuses.length, ORDERS * (CALLBACKS_PER_ORDER + 1))
  t.ok(statuses.every((s) => s === 200), `all ${ORDERS * CALLBACKS_PER_ORDER} callbacks and ${ORDERS} orders answered 200`, { statuses: statuses.join() })
}

function assertInOrderOnce (t: Test, entries: StreamEntry[]): void {
  t.equal(entries.length, ORDERS * (CALLBACKS_PER_ORDER + 1), 'every event is on a stream')
  t.equal(new Set(entries.map((e) => e.eventId)).size, entries.length, 'none twice')
  const versions = new Map<string, number[]>()
  for (const entry of entries) versions.set(entry.entityId, [...(versions.get(entry.entityId) ?? []), entry.version])
  t.equal(versions.size, ORDERS)
  t.ok([...versions.values()].every((v) => v.join() === '1,2,3,4,5'), 'versions 1..5 in stream order for every order')
  const last = entries.filter((e) => e.version === 5).map((e) => (JSON.parse(e.json) as OrderEvent).order.paymentStatus)
  t.ok(last.every((s) => s === 'cancelled'), 'the last event of each order is the cancel')
}

t.test('Redis unreachable: callbacks answered 2xx; two replicas with Redis publish all events in order, once', async (t) => {
  const down = await buildIngest(t, { REDIS_URL: 'redis://127.0.0.1:1', HERALD_STREAM_SHARDS: '4' })
  await registerAndPay(t, down.app)
  const { rows: [{ n }] } = await down.app.pgPool.query('select count(*)::int as n from outbox_pending')
  t.equal(n, ORDERS * (CALLBACKS_PER_ORDER + 1), 'everything waits in the outbox')
  const redis = testRedis(t)
  t.equal((await streamEntries(redis, down.prefix, 4)).length, 0, 'nothing reached Redis')

  // Two live replicas on the same schema sweep side by side (FOR UPDATE SKIP LOCKED).
  const same = { schema: down.schema, prefix: down.prefix }
  await Promise.all([buildIngest(t, { HERALD_STREAM_SHARDS: '4' }, same), buildIngest(t, { HERALD_STREAM_SHARDS: '4' }, same)])
  await eventually(async () => (await streamEntries(redis, down.prefix, 4)).length >= ORDERS * (CALLBACKS_PER_ORDER + 1), 60_000, 'all events on the streams')
  await eventually(async () => (await down.app.pgPool.query('select 1 from outbox_pending limit 1')).rows.length === 0, 30_000, 'outbox drained')
  assertInOrderOnce(t, await streamEntries(redis, down.prefix, 4))
})

t.test('Redis stopped, then started: the same process publishes everything once it is back', async (t) => {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const { app, prefix } = await buildIngest(t, { REDIS_URL: url })
  await registerAndPay(t, app)
  const server: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.teardown(() => { server.kill('SIGKILL') })
  const redis = createRedisClient({ url })
  redis.on('error', () => {}) // refused until the server is up
  t.teardown(() => redis.disconnect())
  await eventually(async () => {
    try {
      return (await streamEntries(redis, prefix)).length >= ORDERS * (CALLBACKS_PER_ORDER + 1)
    } catch {
      return false
    }
  }, 60_000, 'all events on the stream after Redis started')
  assertInOrderOnce(t, await streamEntries(redis, prefix))
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /herald_ingest_outbox_publish_latency_seconds_count\{[^}]*path="sweep"[^}]*\} [1-9]/, 'the sweep published them')
})

t.test('a process that dies after commit and before publish loses nothing', async (t) => {
  const redis = testRedis(t)
  const crashed = await buildIngest(t, {}, { publishing: false })
  t.equal((await putOrder(crashed.app, 'ord_crash', orderBody({ references: { checkoutRequestId: 'ws_CO_crash' } }))).statusCode, 200)
  t.equal((await postCallback(crashed.app, 'mpesa', darajaCallback('ws_CO_crash', 1032))).statusCode, 200)
  const { rows } = await crashed.app.pgPool.query('select o.version from outbox o join outbox_pending p on p.id = o.id order by o.id')
  t.same(rows.map((r) => r.version), [1, 2], 'both events committed, unpublished')
  await crashed.app.close()
  t.equal((await streamEntries(redis, crashed.prefix)).length, 0, 'nothing was published')

  const restarted = await buildIngest(t, {}, { schema: crashed.schema, prefix: crashed.prefix })
  await eventually(async () => (await streamEntries(redis, crashed.prefix)).length === 2, 30_000, 'the sweeper published both')
  const entries = await streamEntries(redis, crashed.prefix)
  t.same(entries.map((e) => [e.entityId, e.version]), [['ord_crash', 1], ['ord_crash', 2]])
  // The sweep marks the rows in the transaction that publishes them: its commit can trail the stream entries.
  await eventually(async () => (await restarted.app.pgPool.query('select 1 from outbox_pending')).rows.length === 0, 20_000, 'the rows to be marked published')
  t.pass('marked published')
})

t.test('close() of the relay is idempotent and stops its timer', async (t) => {
  const { app } = await buildIngest(t)
  await app.outboxRelay.close()
  await app.outboxRelay.close()
  t.equal(await app.outboxRelay.sweep(), 0, 'a closed relay sweeps nothing')
})

t.test('a stream that lost versions (Redis restored from an old backup) is refilled in order', async (t) => {
  const { app, prefix } = await buildIngest(t)
  const redis = testRedis(t)
  await putOrder(app, 'ord_gap', orderBody({ references: { checkoutRequestId: 'ws_CO_gap' } }))
  await postCallback(app, 'mpesa', darajaCallback('ws_CO_gap', 7001))
  await eventually(async () => (await streamEntries(redis, prefix)).length === 2)
  // Redis now believes only version 1 exists.
  await redis.hset(app.streamLayout.snapshotKey('order', 'ord_gap'), 'v', '1')
  await postCallback(app, 'mpesa', darajaCallback('ws_CO_gap', 1032))
  await eventually(async () => (await redis.hget(app.streamLayout.snapshotKey('order', 'ord_gap'), 'v')) === '3', 30_000, 'snapshot at version 3')
  const versions = (await streamEntries(redis, prefix)).map((e) => e.version)
  t.same(versions, [1, 2, 2, 3], 'version 2 republished before version 3')
})

t.test('the immediate path publishes at once and marks the rows published itself, many per statement', async (t) => {
  // A sweep that never runs during the test: whatever is marked, the immediate path marked.
  const { app, prefix } = await buildIngest(t, { OUTBOX_SWEEP_INTERVAL_MS: '3600000' })
  const redis = testRedis(t)
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => putOrder(app, `ord_now_${i}`, orderBody({ references: { checkoutRequestId: `ws_CO_now_${i}` } }))))
  t.ok(answers.every((a) => a.statusCode === 200), 'all registered')
  await eventually(async () => (await streamEntries(redis, prefix)).length === 20, 10_000, 'all on the stream')
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending')).rows.length === 0, 10_000, 'all marked published')
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_now_0', 1032))).statusCode, 200)
  await eventually(async () => (await streamEntries(redis, prefix)).length === 21, 10_000, 'the next version on the stream')
  const versions = (await streamEntries(redis, prefix)).filter((e) => e.entityId === 'ord_now_0').map((e) => e.version)
  t.same(versions, [1, 2], 'in order')
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.notMatch(metrics.body, /herald_ingest_outbox_publish_latency_seconds_count\{[^}]*path="sweep"[^}]*\} [1-9]/, 'nothing needed the sweep')
})

/** A relay on an app's schema and prefix whose immediate publishes fail as a lost connection would (the sweep's do not). */
function relayOf (t: Test, app: App, options: { failImmediate?: boolean } = {}): { relay: OutboxRelay, attempted: Promise<void> } {
  let attempt: () => void = () => {}
  const attempted = new Promise<void>((resolve) => { attempt = resolve })
  class Publisher extends EventPublisher {
    override async publishMany (events: readonly StreamEvent[]): Promise<PublishResult[]> {
      attempt()
      if (options.failImmediate === true) throw new Error('connection lost')
      return await super.publishMany(events)
    }
  }
  const relay = new OutboxRelay({
    pool: app.pgPool,
    publisher: new Publisher(testRedis(t), app.streamLayout, { retentionMs: 60_000 }),
    isRedisReady: () => true,
    log: app.log,
    sweepIntervalMs: 3_600_000
  })
  t.teardown(() => relay.close())
  return { relay, attempted }
}

const pendingIds = async (app: App): Promise<string[]> =>
  (await app.pgPool.query<{ id: string }>('select id::text from outbox_pending order by id')).rows.map((r) => r.id)

t.test('a row whose immediate publish failed stays pending, and the sweep publishes it and clears it', async (t) => {
  const { app, prefix } = await buildIngest(t, {}, { publishing: false })
  const redis = testRedis(t)
  t.equal((await putOrder(app, 'ord_lost', orderBody({ references: { checkoutRequestId: 'ws_CO_lost' } }))).statusCode, 200)
  const { rows: [row] } = await app.pgPool.query<{ id: string, payload: StreamEvent }>('select id::text, payload from outbox')
  t.same(await pendingIds(app), [row!.id], 'the statement that wrote the outbox row wrote its pending row')

  const { relay, attempted } = relayOf(t, app, { failImmediate: true })
  relay.publishCommitted({ events: [row!.payload], waitingBefore: [] })
  await attempted
  await relay.close() // waits for the failed publish
  t.same(await pendingIds(app), [row!.id], 'still pending after the failed publish')
  t.equal((await streamEntries(redis, prefix)).length, 0)

  const { relay: sweeper } = relayOf(t, app)
  t.equal(await sweeper.sweep(), 1, 'the sweep published it')
  t.same((await streamEntries(redis, prefix)).map((e) => [e.entityId, e.version]), [['ord_lost', 1]])
  t.same(await pendingIds(app), [], 'and deleted its pending row')
  const { rows: [{ n }] } = await app.pgPool.query('select count(*)::int as n from outbox')
  t.equal(n, 1, 'the outbox row itself stays, unchanged')
})

t.test('the sweep finds rows of transactions that commit out of id order', async (t) => {
  const { app, prefix } = await buildIngest(t, {}, { publishing: false })
  const redis = testRedis(t)
  for (const id of ['ord_first', 'ord_second']) await putOrder(app, id, orderBody({ references: { checkoutRequestId: `ws_CO_${id}` } }))
  // Replay the two commits the other way round: the higher id commits first, the lower one after a sweep.
  const { rows: pending } = await app.pgPool.query('delete from outbox_pending returning id::text, entity_type, entity_id')
  pending.sort((a, b) => Number(a.id) - Number(b.id))
  const [lower, higher] = pending
  const slow = await app.pgPool.connect()
  t.teardown(() => slow.release())
  await slow.query('begin')
  await slow.query('insert into outbox_pending (id, entity_type, entity_id) values ($1, $2, $3)', [lower.id, lower.entity_type, lower.entity_id])
  await app.pgPool.query('insert into outbox_pending (id, entity_type, entity_id) values ($1, $2, $3)', [higher.id, higher.entity_type, higher.entity_id])

  const { relay } = relayOf(t, app)
  t.equal(await relay.sweep(), 1, 'the committed higher id is swept')
  t.same((await streamEntries(redis, prefix)).map((e) => e.entityId), ['ord_second'])
  await slow.query('commit')
  t.equal(await relay.sweep(), 1, 'the lower id, committed later, is swept too')
  t.same((await streamEntries(redis, prefix)).map((e) => e.entityId), ['ord_second', 'ord_first'])
  t.same(await pendingIds(app), [])
})

t.test('the sweep looks up each pending row in the outbox by id, even with statistics made while many were pending', async (t) => {
  const { app } = await buildIngest(t, {}, { publishing: false })
  const client = await app.pgPool.connect()
  t.teardown(() => client.release())
  await client.query(`insert into outbox (entity_type, entity_id, version, payload)
    select 'order', 'ord_' || g, 1, '{}'::jsonb from generate_series(1, 20000) g`)
  await client.query('insert into outbox_pending (id, entity_type, entity_id) select id, entity_type, entity_id from outbox')
  await client.query('analyze outbox; analyze outbox_pending')
  // Published since: five left pending, and the statistics still say twenty thousand.
  await client.query('delete from outbox_pending where id not in (select id from outbox order by id desc limit 5)')
  await client.query(SWEEP_BEGIN)
  const plan = (await client.query(`explain ${SWEEP_DUE.replace('$1', '200')}`)).rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')
  t.notMatch(plan, /Merge Join|Hash Join|Seq Scan on outbox /, 'no walk over the whole outbox')
  t.match(plan, /Index Cond: \(id = d\.id\)/, 'one outbox lookup by id per pending row')
  const { rows } = await client.query(SWEEP_DUE, [200])
  await client.query('rollback')
  t.same(rows.map((r: { entity_id: string }) => r.entity_id), ['ord_19996', 'ord_19997', 'ord_19998', 'ord_19999', 'ord_20000'], 'the five pending rows, in id order')
})
