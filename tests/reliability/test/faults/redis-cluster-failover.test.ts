// Redis Cluster failover under load (3 masters, a replica each, the streams on 3 shards): first a manual
// failover (CLUSTER FAILOVER on the replica of the master serving shard 0's stream), then a master serving
// a shard SIGKILLed so that its replica is elected, while registration events and payment callbacks arrive
// and long-polls and SSE streams are held. Every event answered 2xx reaches every client that follows its
// entity (live, replayed, or covered by a reset with the current state), none is applied twice, and new
// waiters and streams work afterwards.
import t, { type Test } from 'tap'
import type pg from 'pg'
import { StreamLayout } from '@herald/streams'
import { startGateway, startIngest, until } from '../support/processes.js'
import { RedisCluster } from '../support/redis-cluster.js'
import { percentile, range, recordFigures, streamVersions, usePostgres, useRedis, useStorage } from '../support/storage.js'
import { Traffic } from '../support/scenario.js'
import type { HeraldStorage } from '../support/processes.js'
import type { RedisClient } from '@herald/streams'
import type { SseFollower } from '../support/traffic.js'

const SHARDS = 3
const EVENTS_EACH = 10

/** The versions a follower knows: delivered as updates, or covered by a reset's snapshot. */
function knownVersions (follower: SseFollower, upTo: number): { missing: number[], inOrder: boolean, conflicting: number } {
  const delivered = follower.distinct.map((update) => update.version)
  const resetTo = follower.resets.reduce((max, reset) => Math.max(max, Number(reset.data?.version ?? 0)), 0)
  return {
    missing: range(upTo).filter((version) => !delivered.includes(version) && version > resetTo),
    inOrder: delivered.every((version, i) => i === 0 || version > delivered[i - 1]!),
    conflicting: follower.conflicting
  }
}

/** Every client of the traffic that ran through the failovers reached every final state; Postgres applied each write once. */
async function everyClientReachedItsFinalState (t: Test, pool: pg.Pool, redis: RedisClient, storage: HeraldStorage, traffic: Traffic): Promise<void> {
  for (const run of traffic.registrations) {
    t.same(run.refused, [], `${run.id}: every event was answered 2xx`)
    const { rows: [row] } = await pool.query('select version, status from registrations where id = $1', [run.id])
    const { rows: [events] } = await pool.query('select count(*)::int as n, count(distinct version)::int as versions from registration_events where registration_id = $1', [run.id])
    t.same({ version: row?.version, ...events }, { version: EVENTS_EACH, n: EVENTS_EACH, versions: EVENTS_EACH }, `${run.id}: Postgres applied each event once`)
    const inStream = await streamVersions(redis, storage, 'registration', run.id, SHARDS)
    t.same(inStream.map((e) => e.version), range(EVENTS_EACH), `${run.id}: the stream holds each version once, in order`)
    const follower = run.follower!
    const known = knownVersions(follower, EVENTS_EACH)
    t.same(known.missing, [], `${run.id}: the SSE client got every version (${follower.distinct.length} as updates, ${follower.resets.length} resets)`)
    t.ok(known.inOrder, `${run.id}: updates arrived in version order`)
    t.equal(known.conflicting, 0, `${run.id}: no id reached the client as two different events`)
    const verdict = follower.distinct.at(-1)?.version === EVENTS_EACH ? follower.distinct.at(-1)?.data?.status : follower.resets.at(-1)?.data?.status
    t.equal(verdict, 'APPROVED', `${run.id}: the SSE client saw the verdict`)
  }
  for (const run of traffic.orders) {
    t.same(run.refused, [], `${run.id}: order and callback answered 2xx`)
    const { rows: [row] } = await pool.query('select version, payment_status from orders where id = $1', [run.id])
    const { rows: [outbox] } = await pool.query('select count(*)::int as n from outbox where entity_type = $1 and entity_id = $2', ['order', run.id])
    t.same({ version: row?.version, status: row?.payment_status, events: outbox.n }, { version: 2, status: 'completed', events: 2 }, `${run.id}: registered and paid, the callback applied once`)
    const result = await run.wait!
    t.equal(result.final.paymentStatus, 'completed', `${run.id}: the long-poll answered the payment`)
    t.ok(result.versions.every((v, i) => i === 0 || v >= result.versions[i - 1]!), `${run.id}: long-poll versions never went back`)
    const follower = run.follower!
    const known = knownVersions(follower, 2)
    t.same(known.missing, [], `${run.id}: the order's SSE client got every version`)
    t.ok(known.inOrder && known.conflicting === 0, `${run.id}: in order, no id with two payloads`)
    const last = follower.distinct.at(-1)?.version === 2 ? follower.distinct.at(-1)?.data : follower.resets.at(-1)?.data
    t.equal(last?.paymentStatus, 'completed', `${run.id}: the order's SSE client saw the payment`)
  }
}

t.test('Redis Cluster failovers under load: every answered callback reaches every waiting and streaming client, once', async (t) => {
  const startedAt = Date.now()
  const cluster = await RedisCluster.start(t, { masters: 3, nodeTimeoutMs: 2000 })
  const clusterUpMs = Date.now() - startedAt
  const storage = await useStorage(t, 'redis_cluster', cluster.url)
  const pool = usePostgres(t, storage)
  const env = { HERALD_STREAM_SHARDS: String(SHARDS), OUTBOX_RECONCILE_INTERVAL_MS: '500' }
  const ingest = await startIngest(t, storage, env)
  // The reader blocks as long as in production (5 s): a read held on a master that dies must come back.
  const gateway = await startGateway(t, storage, { ...env, GATEWAY_READ_BLOCK_MS: '5000' })
  const redis = useRedis(t, cluster.url)
  const layout = new StreamLayout({ prefix: storage.prefix, shards: SHARDS })
  const dump = (): void => { t.comment(`ingest output:\n${ingest.output.slice(-5000)}\ngateway output:\n${gateway.output.slice(-5000)}`) }

  // About 12 s of traffic: each registration sends an event every 1.2 s, each order is paid within 12 s.
  const traffic = new Traffic({
    ingests: () => [ingest.url],
    gateways: () => [gateway.url],
    registrations: 12,
    eventsEach: EVENTS_EACH,
    orders: 12,
    pauseMs: 1200,
    payWithinMs: 12_000,
    followOrders: true,
    label: 'rc'
  })
  const running = traffic.run()

  await until(() => traffic.sent >= traffic.expectedEvents * 0.25, 'a quarter of the events to be sent', 60_000)
  const failedOver = await cluster.masterOf(layout.streamKey(0))
  const failoverStarted = Date.now()
  const promoted = await cluster.failover(failedOver)
  const failover = { sentBefore: traffic.sent, tookMs: Date.now() - failoverStarted, from: failedOver.port, to: promoted.port }

  await until(() => traffic.sent >= traffic.expectedEvents * 0.5, 'half of the events to be sent', 60_000)
  // A master that serves a shard's stream; another than the one just promoted when the shards allow.
  const shardMasters = await Promise.all(layout.streamKeys().map((key) => cluster.masterOf(key)))
  const victim = shardMasters.find((master) => master.id !== promoted.id) ?? shardMasters[0]!
  const killStarted = Date.now()
  const elected = await cluster.killMaster(victim)
  const kill = { sentBefore: traffic.sent, promotedAfterMs: Date.now() - killStarted, killed: victim.port, elected: elected.port, shardsServed: shardMasters.filter((m) => m.id === victim.id).length }

  await running
  await traffic.settle().catch((err: unknown) => { dump(); throw err })
  await traffic.stop()
  await everyClientReachedItsFinalState(t, pool, redis, storage, traffic)

  // New waiters and streams on the healed cluster: every version, in order, once.
  const after = new Traffic({ ingests: () => [ingest.url], gateways: () => [gateway.url], registrations: 4, eventsEach: 4, orders: 4, pauseMs: 30, followOrders: true, label: 'rc-after' })
  await after.run()
  await after.settle().catch((err: unknown) => { dump(); throw err })
  await after.stop()
  await after.verify(t, pool, redis, storage, SHARDS)
  t.ok(ingest.running && gateway.running, 'both services survived')
  for (const service of [ingest, gateway]) t.equal((await fetch(`${service.url}/readyz`)).status, 200, `${service.name} is ready on the healed cluster`)
  t.match(await (await fetch(`${gateway.url}/metrics`)).text(), new RegExp(`herald_gateway_stream_consumers_reading\\{[^}]*\\} ${SHARDS}\\b`), 'every shard\'s reader is reading')
  const { rows: [outbox] } = await pool.query('select count(*)::int as unpublished from outbox_pending')
  t.equal(outbox.unpublished, 0, 'the outbox drained')

  const metrics = await (await fetch(`${ingest.url}/metrics`)).text()
  const repairs = [...metrics.matchAll(/^herald_reconciler_repairs_total\{reason="(\w+)"[^}]*\} (\d+)/gm)].map((m) => [m[1], Number(m[2])])
  const orderFollowers = traffic.orders.map((run) => run.follower!)
  const delays = await traffic.deliveryDelays()
  const figures = {
    ...traffic.figures(),
    orderSseUpdatesDistinct: orderFollowers.reduce((n, f) => n + f.distinct.length, 0),
    orderSseResets: orderFollowers.reduce((n, f) => n + f.resets.length, 0),
    orderSseReconnects: orderFollowers.reduce((n, f) => n + Math.max(0, f.connects - 1), 0),
    longPollRequests: (await Promise.all(traffic.orders.map((run) => run.wait!))).reduce((n, r) => n + r.requests, 0),
    manualFailover: failover,
    masterKill: kill,
    // From the ingest's timestamp of an event to a client holding it, across both failovers.
    deliveryMs: { p50: percentile([...delays.registrations, ...delays.orders], 0.5), p99: percentile([...delays.registrations, ...delays.orders], 0.99), max: Math.max(...delays.registrations, ...delays.orders) },
    reconcilerRepairs: Object.fromEntries(repairs),
    afterFailoverEventsDelivered: after.figures().registrationEventsDeliveredDistinct,
    clusterUpMs,
    testMs: Date.now() - startedAt
  }
  t.comment(JSON.stringify(figures))
  recordFigures('redis-cluster-failover', figures)
})
