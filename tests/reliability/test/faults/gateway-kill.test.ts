// A gateway killed with SIGKILL under load: its SSE clients resume on another gateway with no gap, its
// long-polls are answered there, and its consumer group is removed by the survivor later.
import t from 'tap'
import { startGateway, startIngest, until } from '../support/processes.js'
import { recordFigures, usePostgres, useRedis, useStorage } from '../support/storage.js'
import { Traffic } from '../support/scenario.js'
import { StreamLayout } from '@herald/streams'

async function groupsOf (redis: ReturnType<typeof useRedis>, streamKey: string): Promise<string[]> {
  try {
    const groups = await redis.call('XINFO', 'GROUPS', streamKey) as unknown[][]
    return groups.map((fields) => String(fields[fields.indexOf('name') + 1]))
  } catch {
    return []
  }
}

t.test('SSE clients of a SIGKILLed gateway resume on another with no gap; its group is cleaned up', async (t) => {
  const storage = await useStorage(t, 'gw_kill')
  const pool = usePostgres(t, storage)
  const redis = useRedis(t, storage.redisUrl)
  const ingest = await startIngest(t, storage)
  // Short heartbeat and idle settings so the survivor sweeps the dead replica's group within the test.
  const cleanup = { GATEWAY_HEARTBEAT_MS: '200', GATEWAY_GROUP_IDLE_MS: '1000' }
  const victim = await startGateway(t, storage, cleanup)
  const survivor = await startGateway(t, storage, cleanup)
  const streamKey = new StreamLayout({ prefix: storage.prefix, shards: 1 }).streamKey(0)
  await until(async () => (await groupsOf(redis, streamKey)).length >= 2, 'both gateways to create their consumer groups')
  const victimGroups = (await groupsOf(redis, streamKey)).filter((g) => g.includes(String(victim.port)))
  t.equal(victimGroups.length, 1, 'the victim has its own consumer group')

  let victimAlive = true
  // Clients start on the victim and fail over to the survivor, as a load balancer would send them.
  const gateways = () => victimAlive ? [victim.url, survivor.url] : [survivor.url]
  const traffic = new Traffic({ ingests: () => [ingest.url], gateways, registrations: 16, eventsEach: 12, orders: 8, pauseMs: 60, label: 'gk' })
  const running = traffic.run()
  await until(() => traffic.sent >= traffic.expectedEvents * 0.4, '40% of the events to be sent', 120_000)
  const onVictim = traffic.registrations.filter((run) => run.follower?.connected).length
  await victim.kill()
  victimAlive = false
  const killedAfter = traffic.sent
  await running
  await traffic.settle()
  await traffic.stop()
  await traffic.verify(t, pool, redis, storage)
  t.equal(traffic.figures().sseResets, 0, 'no client needed a reset: the history covered every resume')
  t.ok(survivor.running, 'the survivor kept running')

  await until(async () => !(await groupsOf(redis, streamKey)).includes(victimGroups[0]!), 'the survivor to remove the dead replica\'s consumer group', 60_000)
  t.pass('the dead replica\'s consumer group was removed')
  t.ok((await groupsOf(redis, streamKey)).some((g) => g.includes(String(survivor.port))), 'the survivor\'s own group is still there')

  const figures = { ...traffic.figures(), gatewaysKilled: 1, killedAfterEventsSent: killedAfter, followersConnectedAtKill: onVictim }
  t.comment(JSON.stringify(figures))
  recordFigures('gateway-kill', figures)
})
