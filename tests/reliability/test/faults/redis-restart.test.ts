// Redis (AOF, its own port) killed and restarted twice while callbacks and registration events stream in.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisServer, startGateway, startIngest, until } from '../support/processes.js'
import { recordFigures, usePostgres, useRedis, useStorage } from '../support/storage.js'
import { Traffic } from '../support/scenario.js'

t.test('every event reaches the stream and the waiting clients across Redis restarts, in order, none applied twice', async (t) => {
  const redisServer = await RedisServer.start(t, { appendfsync: 'always' })
  const storage = await useStorage(t, 'redis_restart', redisServer.url)
  const pool = usePostgres(t, storage)
  const ingest = await startIngest(t, storage)
  const gateway = await startGateway(t, storage)

  const traffic = new Traffic({
    ingests: () => [ingest.url],
    gateways: () => [gateway.url],
    registrations: 12,
    eventsEach: 12,
    orders: 8,
    pauseMs: 60,
    label: 'rr'
  })
  const running = traffic.run()
  const restarts: number[] = []
  for (const at of [0.25, 0.6]) {
    await until(() => traffic.sent >= traffic.expectedEvents * at, `${at * 100}% of the events to be sent`, 120_000)
    restarts.push(traffic.sent)
    await redisServer.restart(1500)
  }
  await running
  await traffic.settle().catch((err: unknown) => {
    t.comment(`gateway running: ${gateway.running}, ingest running: ${ingest.running}`)
    t.comment(`gateway output:\n${gateway.output.slice(-5000)}`)
    throw err
  })
  await traffic.stop()

  const redis = useRedis(t, redisServer.url)
  await traffic.verify(t, pool, redis, storage)
  const { rows: [outbox] } = await pool.query('select count(*)::int as unpublished from outbox_pending')
  t.equal(outbox.unpublished, 0, 'the outbox drained by itself')
  t.ok(ingest.running && gateway.running, 'both services survived')

  const figures = { ...traffic.figures(), redisRestarts: restarts.length, restartedAfterEventsSent: restarts }
  t.comment(JSON.stringify(figures))
  recordFigures('redis-restart', figures)
  await sleep(0)
})
