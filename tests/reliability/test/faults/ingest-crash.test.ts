// The ingest killed between commit and publish: its Redis sits behind a proxy that either swallows the
// publishes (never reach Redis) or swallows Redis's answers (reach Redis, never marked published), then
// SIGKILL, then a new ingest. Its sweeper publishes what was committed; no client sees a second event.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TEST_REDIS_URL } from '@herald/service-kit/testing'
import { TcpProxy, startGateway, startIngest, until, type ServiceProcess } from '../support/processes.js'
import { recordFigures, usePostgres, useRedis, useStorage } from '../support/storage.js'
import { Traffic } from '../support/scenario.js'

const redisTarget = new URL(TEST_REDIS_URL)

for (const mode of ['blackhole', 'mute'] as const) {
  const what = mode === 'blackhole' ? 'publishes that never reached Redis' : 'publishes that reached Redis but were never marked published'
  t.test(`after an ingest dies with ${what}, the sweeper of a new ingest publishes them once`, async (t) => {
    const storage = await useStorage(t, `ingest_${mode}`)
    const pool = usePostgres(t, storage)
    const redis = useRedis(t, storage.redisUrl)
    const proxy = await TcpProxy.start(t, { host: redisTarget.hostname, port: Number(redisTarget.port || 6379) })
    let ingest: ServiceProcess | null = await startIngest(t, { ...storage, redisUrl: proxy.urlFor(storage.redisUrl) })
    const gateway = await startGateway(t, storage)

    const traffic = new Traffic({
      ingests: () => ingest === null ? [] : [ingest.url],
      gateways: () => [gateway.url],
      registrations: 10,
      eventsEach: 10,
      orders: 6,
      pauseMs: 60,
      label: `ic${mode[0]}`
    })
    const running = traffic.run()
    await until(() => traffic.sent >= traffic.expectedEvents * 0.3, '30% of the events to be sent', 120_000)
    if (mode === 'blackhole') proxy.blackhole()
    else proxy.muteReplies()
    const faultAt = traffic.sent
    await until(() => traffic.sent >= faultAt + 20, 'events to be committed while publishing is stuck', 120_000)
    const { rows: [stuck] } = await pool.query('select count(*)::int as n from outbox_pending')
    await ingest.kill()
    ingest = null
    const killedAfter = traffic.sent
    await sleep(500)
    ingest = await startIngest(t, storage)
    await running
    await traffic.settle()
    await traffic.stop()
    await traffic.verify(t, pool, redis, storage)
    await until(async () => (await pool.query('select count(*)::int as n from outbox_pending')).rows[0].n === 0, 'the outbox to drain')
    t.pass('the new ingest\'s sweeper published every committed event')

    const figures = { ...traffic.figures(), mode, ingestsKilled: 1, killedAfterEventsSent: killedAfter, unpublishedAtKill: stuck.n }
    t.ok(stuck.n > 0, `events were committed and unpublished when the ingest died (${stuck.n})`)
    t.comment(JSON.stringify(figures))
    recordFigures(`ingest-crash-${mode}`, figures)
  })
}
