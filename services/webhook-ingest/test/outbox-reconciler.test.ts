import t from 'tap'
import { StreamLayout, readSnapshot } from '@herald/streams'
import { repairOf } from '../src/outbox/reconciler.js'
import { buildIngest, darajaCallback, eventually, orderBody, postCallback, putOrder, streamEntries, testRedis } from './helper.js'

t.test('repairOf: Redis at or past the outbox agrees; no snapshot is missing; an older one is behind', async (t) => {
  t.equal(repairOf(3, 3), null)
  t.equal(repairOf(3, 4), null, 'a newer version in Redis (the relay got there first) needs nothing')
  t.equal(repairOf(3, 0), 'missing')
  t.equal(repairOf(3, 2), 'behind')
})

t.test('an entity Redis lost is republished from the outbox: snapshot, history and stream, in order', async (t) => {
  // A long interval: the test runs the passes itself.
  const { app, prefix } = await buildIngest(t, { OUTBOX_RECONCILE_INTERVAL_MS: '3600000' })
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 1 })
  t.equal((await putOrder(app, 'ord_lost', orderBody({ references: { checkoutRequestId: 'ws_CO_lost' } }))).statusCode, 200)
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_lost', 0))).statusCode, 200)
  await eventually(async () => (await app.pgPool.query('select 1 from outbox where published_at is null limit 1')).rows.length === 0, 20_000, 'outbox drained')
  t.equal(await app.outboxReconciler.reconcile(), 0, 'nothing to repair while Redis agrees')

  // Redis loses everything under the prefix (the shared Redis: only this test's keys).
  const keys = await redis.keys(`${prefix}:*`)
  await redis.del(...keys)
  t.equal(await app.outboxReconciler.reconcile(), 1, 'one entity repaired')
  const snapshot = await readSnapshot(redis, layout, 'order', 'ord_lost')
  t.equal(snapshot?.version, 2, 'the snapshot is back at the last version')
  t.same((await streamEntries(redis, prefix)).map((e) => e.version), [1, 2], 'the stream has both versions, in order')
  t.equal(await redis.zcard(layout.historyKey('order', 'ord_lost')), 2, 'the history has both versions')
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_reconciler_repairs_total\{reason="missing"[^}]*\} 1\n/)
  t.equal(await app.outboxReconciler.reconcile(), 0, 'a second pass finds nothing')
})

t.test('a publish lost after commit (Redis behind the outbox) is repaired by the reconciler', async (t) => {
  const { app, prefix, schema } = await buildIngest(t, { OUTBOX_RECONCILE_INTERVAL_MS: '100' })
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 1 })
  t.equal((await putOrder(app, 'ord_drop', orderBody({ references: { checkoutRequestId: 'ws_CO_drop' } }))).statusCode, 200)
  await eventually(async () => (await readSnapshot(redis, layout, 'order', 'ord_drop'))?.version === 1, 20_000, 'version 1 published')
  // A replica that commits but whose publish is lost: Postgres marks the row published, Redis never saw it.
  const silent = await buildIngest(t, { OUTBOX_RECONCILE_INTERVAL_MS: '0' }, { schema, prefix, publishing: false })
  t.equal((await postCallback(silent.app, 'mpesa', darajaCallback('ws_CO_drop', 0))).statusCode, 200)
  await silent.app.pgPool.query('update outbox set published_at = now() where published_at is null')
  await eventually(async () => (await readSnapshot(redis, layout, 'order', 'ord_drop'))?.version === 2, 20_000, 'the reconciler republished version 2')
  t.same((await streamEntries(redis, prefix)).map((e) => e.version), [1, 2], 'version 2 follows version 1 on the stream, once')
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_reconciler_repairs_total\{reason="behind"[^}]*\} 1\n/)
})

t.test('replicas take turns: a pass while another replica holds the lock does nothing', async (t) => {
  const first = await buildIngest(t, { OUTBOX_RECONCILE_INTERVAL_MS: '3600000' })
  const second = await buildIngest(t, { OUTBOX_RECONCILE_INTERVAL_MS: '3600000' }, { schema: first.schema, prefix: first.prefix })
  const redis = testRedis(t)
  for (const id of ['a', 'b', 'c']) await putOrder(first.app, `ord_${id}`, orderBody({ references: { checkoutRequestId: `ws_CO_${id}` } }))
  await eventually(async () => (await first.app.pgPool.query('select 1 from outbox where published_at is null limit 1')).rows.length === 0, 20_000, 'outbox drained')
  await redis.del(...await redis.keys(`${first.prefix}:*`))
  const [a, b] = await Promise.all([first.app.outboxReconciler.reconcile(), second.app.outboxReconciler.reconcile()])
  t.equal(a + b, 3, 'the three entities were repaired once between the two replicas')
  t.equal((await streamEntries(redis, first.prefix)).length, 3, 'one stream entry each')
})

t.test('a regular pass compares only the last seconds; the whole window after Redis lost its data', async (t) => {
  // Interval 0: no timer; the test runs the passes (a regular one then compares the last 30 s).
  const { app, prefix } = await buildIngest(t, { OUTBOX_RECONCILE_INTERVAL_MS: '0', OUTBOX_RECONCILE_WINDOW_MS: '7200000' })
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 1 })
  t.equal((await putOrder(app, 'ord_old', orderBody({ references: { checkoutRequestId: 'ws_CO_old' } }))).statusCode, 200)
  await eventually(async () => (await app.pgPool.query('select 1 from outbox where published_at is null limit 1')).rows.length === 0, 20_000, 'outbox drained')
  t.equal(await app.outboxReconciler.reconcile(), 0, 'the first pass compares the whole window and finds Redis in agreement')
  t.ok(await redis.exists(layout.metaKey('reconciled')), 'it leaves its marker in Redis')

  // The order was last written 20 minutes ago (inside the window, outside a regular pass) and its snapshot is gone.
  await app.pgPool.query("update outbox set created_at = now() - interval '20 minutes' where entity_id = 'ord_old'")
  await redis.del(layout.snapshotKey('order', 'ord_old'))
  t.equal(await app.outboxReconciler.reconcile(), 0, 'a regular pass does not read the whole window')
  // Redis losing its data takes the marker with it: the next pass compares the whole window.
  await redis.del(layout.metaKey('reconciled'))
  t.equal(await app.outboxReconciler.reconcile(), 1, 'the whole window compared: the order repaired')
  t.equal((await readSnapshot(redis, layout, 'order', 'ord_old'))?.version, 1)
})
