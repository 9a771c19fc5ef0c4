// Redis loses its data (FLUSHALL, or restarted without persistence) while clients wait and stream: the
// ingest's reconciler republishes from the outbox, every client reaches every final state (replayed, live
// or as a reset), Redis agrees with Postgres again, and new waiters and streams work.
import t, { type Test } from 'tap'
import type pg from 'pg'
import { StreamLayout, readSnapshot, type RedisClient } from '@herald/streams'
import { RedisServer, startGateway, startIngest, until, type HeraldStorage, type ServiceProcess } from '../support/processes.js'
import { recordFigures, usePostgres, useRedis, useStorage } from '../support/storage.js'
import { Traffic } from '../support/scenario.js'
import { SseFollower } from '../support/traffic.js'

const EVENTS_EACH = 8

async function checkConverged (t: Test, pool: pg.Pool, redis: RedisClient, storage: HeraldStorage, traffic: Traffic): Promise<void> {
  const layout = new StreamLayout({ prefix: storage.prefix, shards: 1 })
  for (const run of traffic.registrations) {
    const { rows: [row] } = await pool.query('select version, status from registrations where id = $1', [run.id])
    t.equal(row?.status, 'APPROVED', `${run.id}: Postgres has the verdict`)
    t.equal(run.follower?.version, row?.version, `${run.id}: the SSE client knows the final version`)
    await until(async () => (await readSnapshot(redis, layout, 'registration', run.id))?.version === row?.version, `${run.id} snapshot back in Redis`, 30_000)
  }
  for (const run of traffic.orders) {
    const result = await run.wait!
    t.equal(result.final.paymentStatus, 'completed', `${run.id}: the long-poll answered the payment`)
    const { rows: [row] } = await pool.query('select version from orders where id = $1', [run.id])
    await until(async () => (await readSnapshot(redis, layout, 'order', run.id))?.version === row?.version, `${run.id} snapshot back in Redis`, 30_000)
  }
  t.pass('every snapshot in Redis is back at the version Postgres has')
}

/** A client that subscribes from the start after the loss, to a registration that was final before it. */
async function lateSubscriber (gateway: ServiceProcess, traffic: Traffic): Promise<number> {
  const run = traffic.registrations[0]!
  const follower = new SseFollower(() => [gateway.url], `/api/registrations/updates/stream?registrationId=${run.id}`, run.subscribeToken)
  follower.lastEventId = '0'
  follower.start()
  try {
    await until(() => follower.version >= EVENTS_EACH, 'a late subscriber to see the final version', 30_000)
    return follower.version
  } finally {
    await follower.stop()
  }
}

async function scenario (t: Test, name: string, loseData: (server: RedisServer, redis: RedisClient) => Promise<void>): Promise<void> {
  const redisServer = await RedisServer.start(t, { appendfsync: 'always' })
  const storage = await useStorage(t, name.replace(/-/g, '_'), redisServer.url)
  const pool = usePostgres(t, storage)
  const ingest = await startIngest(t, storage, { OUTBOX_RECONCILE_INTERVAL_MS: '500' })
  const gateway = await startGateway(t, storage)
  const redis = useRedis(t, redisServer.url)
  const traffic = new Traffic({ ingests: () => [ingest.url], gateways: () => [gateway.url], registrations: 10, eventsEach: EVENTS_EACH, orders: 8, pauseMs: 80, label: name })
  const running = traffic.run()
  await until(() => traffic.sent >= traffic.expectedEvents * 0.5, 'half of the events to be sent', 120_000)
  const lostAfter = traffic.sent
  await loseData(redisServer, redis)
  await running
  await traffic.settle().catch((err: unknown) => {
    t.comment(`ingest output:\n${ingest.output.slice(-4000)}\ngateway output:\n${gateway.output.slice(-4000)}`)
    throw err
  })
  await traffic.stop()
  await checkConverged(t, pool, redis, storage, traffic)
  const late = await lateSubscriber(gateway, traffic)
  t.equal(late, EVENTS_EACH, 'a new stream from lastEventId=0 gets the final state')

  // New traffic after the loss is delivered in full, every version in order.
  const after = new Traffic({ ingests: () => [ingest.url], gateways: () => [gateway.url], registrations: 4, eventsEach: 4, orders: 4, pauseMs: 30, label: `${name}-after` })
  await after.run()
  await after.settle()
  await after.stop()
  await after.verify(t, pool, redis, storage)
  t.ok(ingest.running && gateway.running, 'both services survived')

  const metrics = await (await fetch(`${ingest.url}/metrics`)).text()
  const repairs = [...metrics.matchAll(/^herald_reconciler_repairs_total\{reason="(\w+)"[^}]*\} (\d+)/gm)].map((m) => [m[1], Number(m[2])])
  const figures = { ...traffic.figures(), lostAfterEventsSent: lostAfter, reconcilerRepairs: Object.fromEntries(repairs), afterLossEventsDelivered: after.figures().registrationEventsDeliveredDistinct }
  t.comment(JSON.stringify(figures))
  recordFigures(name, figures)
}

t.test('FLUSHALL while clients wait and stream: every client reaches every final state', (t) =>
  scenario(t, 'redis-flushall', async (_server, redis) => { await redis.flushall() }))

t.test('Redis restarted empty mid-traffic: every client reaches every final state', (t) =>
  scenario(t, 'redis-restart-empty', async (server) => { await server.restart(1000, { empty: true }) }))
