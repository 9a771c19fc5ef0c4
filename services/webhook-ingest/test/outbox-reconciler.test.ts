import t from 'tap'
import { StreamLayout, readSnapshot, type RedisClient } from '@herald/streams'
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
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending limit 1')).rows.length === 0, 20_000, 'outbox drained')
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
  await silent.app.pgPool.query('delete from outbox_pending')
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
  await eventually(async () => (await first.app.pgPool.query('select 1 from outbox_pending limit 1')).rows.length === 0, 20_000, 'outbox drained')
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
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending limit 1')).rows.length === 0, 20_000, 'outbox drained')
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

t.test('a batch spanning several shards, with snapshots missing or behind on each, is repaired entity by entity as repairOf says', async (t) => {
  const { app, prefix } = await buildIngest(t, { OUTBOX_RECONCILE_INTERVAL_MS: '0', HERALD_STREAM_SHARDS: '4' })
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 4 })
  // Three orders per shard: one Redis will lose, one it will hold an older version of, one it keeps.
  const byShard = Array.from({ length: layout.shards }, () => [] as string[])
  for (let i = 0; byShard.some((ids) => ids.length < 3); i++) {
    const ids = byShard[layout.shardOf('order', `ord_sh${i}`)]!
    if (ids.length < 3) ids.push(`ord_sh${i}`)
  }
  const inRole = (role: number) => byShard.map((ids) => ids[role]!)
  const [missing, behind, agreeing] = [inRole(0), inRole(1), inRole(2)]
  for (const id of [...missing, ...behind, ...agreeing]) {
    t.equal((await putOrder(app, id, orderBody({ references: { checkoutRequestId: `ws_CO_${id}` } }))).statusCode, 200)
    t.equal((await postCallback(app, 'mpesa', darajaCallback(`ws_CO_${id}`, 0))).statusCode, 200)
  }
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending limit 1')).rows.length === 0, 20_000, 'outbox drained')
  // The commands the reconciler sends on the service's connection during a pass.
  const appRedis = app.redis as { sendCommand: (command: Parameters<RedisClient['sendCommand']>[0], ...rest: never[]) => unknown }
  const sent: string[] = []
  const send = appRedis.sendCommand.bind(appRedis)
  appRedis.sendCommand = (command, ...rest) => {
    sent.push(command.name)
    return send(command, ...rest)
  }
  t.equal(await app.outboxReconciler.reconcile(), 0, 'nothing to repair while Redis agrees')
  appRedis.sendCommand = send
  t.same(sent.filter((name) => name === 'hget' || name === 'evalsha'), ['evalsha', 'evalsha', 'evalsha', 'evalsha'], 'the twelve snapshot versions read with one script call per shard')

  // Redis loses some snapshots and falls back to version 1 of others (a failover to a replica that missed a write).
  for (const id of missing) await redis.del(layout.snapshotKey('order', id), layout.historyKey('order', id))
  for (const id of behind) {
    const [first] = await redis.zrangebyscore(layout.historyKey('order', id), 1, 1)
    await redis.hset(layout.snapshotKey('order', id), 'v', '1', 'e', first!)
  }
  const untouched = await Promise.all(agreeing.map((id) => redis.hget(layout.snapshotKey('order', id), 's')))
  const entriesBefore = (await streamEntries(redis, prefix, layout.shards)).length

  t.equal(await app.outboxReconciler.reconcile(), 8, 'the four lost and the four behind repaired, in one batch over four shards')
  for (const id of [...missing, ...behind, ...agreeing]) t.equal((await readSnapshot(redis, layout, 'order', id))?.version, 2, `${id} at version 2`)
  t.same(await Promise.all(agreeing.map((id) => redis.hget(layout.snapshotKey('order', id), 's'))), untouched, 'the agreeing snapshots were not rewritten')
  t.same(await Promise.all(missing.map((id) => redis.zcard(layout.historyKey('order', id)))), [2, 2, 2, 2], 'a lost entity gets its history back')
  t.equal((await streamEntries(redis, prefix, layout.shards)).length - entriesBefore, 4 * 2 + 4 * 1, 'two versions per lost entity and one per entity behind went back on the streams')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /herald_reconciler_repairs_total\{reason="missing"[^}]*\} 4\n/)
  t.match(metrics, /herald_reconciler_repairs_total\{reason="behind"[^}]*\} 4\n/)
  t.equal(await app.outboxReconciler.reconcile(), 0, 'a second pass finds nothing')
})
