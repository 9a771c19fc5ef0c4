// Redis connections killed (CLIENT KILL) and the gateway's consumer group destroyed, repeatedly, while
// events stream in: readers recover by themselves, nothing hangs, clients miss nothing.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { StreamLayout } from '@herald/streams'
import { RedisServer, TcpProxy, startGateway, startIngest, until } from '../support/processes.js'
import { recordFigures, usePostgres, useRedis, useStorage } from '../support/storage.js'
import { Traffic } from '../support/scenario.js'
import { SseFollower, call, deliver, finalEvent, stageEvent } from '../support/traffic.js'

t.test('readers recover from killed connections and a destroyed group; no hang, no gap', async (t) => {
  // A Redis of the test's own: CLIENT KILL there cannot touch anyone else's connections.
  const redisServer = await RedisServer.start(t)
  const storage = await useStorage(t, 'client_kill', redisServer.url)
  const pool = usePostgres(t, storage)
  const redis = useRedis(t, redisServer.url)
  await redis.client('SETNAME', 'reliability-test')
  const ingest = await startIngest(t, storage)
  const gateway = await startGateway(t, storage)
  const streamKey = new StreamLayout({ prefix: storage.prefix, shards: 1 }).streamKey(0)

  const traffic = new Traffic({ ingests: () => [ingest.url], gateways: () => [gateway.url], registrations: 10, eventsEach: 14, orders: 6, pauseMs: 60, label: 'ck' })
  const running = traffic.run()
  const faults = { connectionsKilled: 0, groupsDestroyed: 0, rounds: 0 }
  for (const at of [0.2, 0.45, 0.7]) {
    await until(() => traffic.sent >= traffic.expectedEvents * at, `${at * 100}% of the events to be sent`, 120_000)
    faults.rounds++
    // Every gateway connection: the command connection and the blocking stream readers.
    const killed = await redis.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes') as number
    faults.connectionsKilled += killed
    const groups = await redis.call('XINFO', 'GROUPS', streamKey).catch(() => []) as unknown[][]
    for (const fields of groups) {
      const name = String(fields[fields.indexOf('name') + 1])
      if (name.startsWith('gw:')) {
        await redis.xgroup('DESTROY', streamKey, name)
        faults.groupsDestroyed++
      }
    }
    await sleep(300)
  }
  await running
  await traffic.settle()
  await traffic.stop()
  await traffic.verify(t, pool, redis, storage)
  t.ok(faults.connectionsKilled > 0 && faults.groupsDestroyed > 0, `faults were injected (${JSON.stringify(faults)})`)

  // No hang: the reader is still reading (a new event arrives promptly enough for a generous deadline).
  await until(async () => ((await redis.call('XINFO', 'GROUPS', streamKey)) as unknown[]).length > 0, 'the gateway to re-create its group')
  const health = await call(`${gateway.url}/readyz`)
  t.equal(health.status, 200, 'the gateway is ready')
  t.match(health.body, { status: 'ready', checks: { redis: 'ok' } }, 'and not degraded: its Redis connection is back')
  t.ok(gateway.running && ingest.running, 'both services survived')

  const figures = { ...traffic.figures(), ...faults }
  t.comment(JSON.stringify(figures))
  recordFigures('redis-client-kill', figures)
})

t.test('an entry delivered on a connection that died before the answer arrived still reaches the clients', async (t) => {
  const storage = await useStorage(t, 'lost_read')
  const redis = useRedis(t, storage.redisUrl)
  const target = new URL(storage.redisUrl)
  // Only the gateway talks to Redis through the proxy; the ingest publishes directly.
  const proxy = await TcpProxy.start(t, { host: target.hostname, port: Number(target.port || 6379) })
  const ingest = await startIngest(t, storage)
  const gateway = await startGateway(t, { ...storage, redisUrl: proxy.urlFor(storage.redisUrl) })
  const ids = ['lr-1', 'lr-2', 'lr-3']
  const followers: SseFollower[] = []
  for (const id of ids) {
    for (const n of [1, 2]) {
      const answer = await deliver(() => [ingest.url], 'POST', `/v1/registrations/${id}/events`, stageEvent(n), `msg_${id}_${n}`)
      t.equal(answer.status, 200)
      if (n === 1) {
        const follower = new SseFollower(() => [gateway.url], `/api/registrations/updates/stream?registrationId=${id}`, answer.body.subscribeToken)
        follower.lastEventId = '0'
        followers.push(follower.start())
      }
    }
  }
  t.teardown(() => Promise.all(followers.map((f) => f.stop())))
  await until(() => followers.every((f) => f.distinct.length === 2), 'the clients to see the first two events')

  // The gateway's blocked XREADGROUP stays on the server; its answer (the final events) is lost on the way.
  proxy.muteExisting()
  await sleep(200)
  for (const id of ids) {
    const answer = await deliver(() => [ingest.url], 'POST', `/v1/registrations/${id}/events`, finalEvent(), `msg_${id}_final`)
    t.equal(answer.status, 200, `${id}: final verdict accepted`)
  }
  const layout = new StreamLayout({ prefix: storage.prefix, shards: 1 })
  await sleep(500)
  const groups = await redis.call('XINFO', 'GROUPS', layout.streamKey(0)) as unknown[][]
  t.comment(`consumer groups after the lost answer: ${JSON.stringify(groups)}`)

  // The reader's watchdog replaces the silent connection; the entries must not stay stranded in its PEL.
  let delivered = true
  await until(() => followers.every((f) => f.distinct.length === 3), 'the clients to see the final verdict', 60_000).catch(() => { delivered = false })
  t.ok(delivered, `every client saw the final verdict (got ${followers.map((f) => f.distinct.map((u) => u.version).join(',')).join(' / ')})`)
  const after = await redis.call('XINFO', 'GROUPS', layout.streamKey(0)) as unknown[][]
  t.comment(`consumer groups at the end (pending = stranded entries): ${JSON.stringify(after)}`)
  recordFigures('redis-lost-read', { registrations: ids.length, finalVerdictsSent: ids.length, finalVerdictsDelivered: followers.filter((f) => f.distinct.length === 3).length })
})
