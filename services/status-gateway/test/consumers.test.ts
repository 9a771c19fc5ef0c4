import t from 'tap'
import type tap from 'tap'
import { createRedisClient, readGroups } from '@herald/streams'
import { TEST_REDIS_URL } from '@herald/service-kit/testing'
import { buildGateway } from './helper.js'
import { ADMIN, orderEvent, usePublisher, waitUntil } from './support.js'

const auth = { authorization: `Bearer ${ADMIN}` }

async function heldThenNotified (t: Pick<typeof tap, 'match'>, app: Awaited<ReturnType<typeof buildGateway>>['app'], publish: () => Promise<unknown>, orderId: string, version: number) {
  const before = app.orderWaiters.size
  const answer = app.inject({ url: `/api/orders/${orderId}/wait?timeout=60000`, headers: auth })
  await waitUntil(() => app.orderWaiters.size === before + 1, 'the waiter to be held')
  await publish()
  const res = await answer
  t.match(res.json(), { version, timedOut: false }, res.body)
}

t.test('two gateway replicas on one Redis both notify their own waiters of the same event', async (t) => {
  const one = await buildGateway(t)
  const two = await buildGateway(t, {}, { schema: one.schema, prefix: one.prefix })
  t.not(one.app.streamConsumers.group, two.app.streamConsumers.group, 'one consumer group per replica')
  const { publisher } = usePublisher(t, one.prefix)
  await publisher.publish(orderEvent('o-two', 1))
  const a = one.app.inject({ url: '/api/orders/o-two/wait', headers: auth })
  const b = two.app.inject({ url: '/api/orders/o-two/wait', headers: auth })
  await waitUntil(() => one.app.orderWaiters.size === 1 && two.app.orderWaiters.size === 1, 'both waiters to be held')
  await publisher.publish(orderEvent('o-two', 2, 'completed'))
  t.match((await a).json(), { paymentStatus: 'completed', timedOut: false })
  t.match((await b).json(), { paymentStatus: 'completed', timedOut: false })
})

t.test('a destroyed consumer group is re-created and events keep flowing', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher, redis, layout } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-nogroup', 1))
  await redis.xgroup('DESTROY', layout.streamKey(0), app.streamConsumers.group)
  // The reader sees NOGROUP on its next read (within GATEWAY_READ_BLOCK_MS) and re-creates the group.
  await waitUntil(async () => {
    const groups = await readGroups(redis, layout.streamKey(0))
    return groups.some((g) => g.name === app.streamConsumers.group)
  }, 'the group to be re-created')
  await heldThenNotified(t, app, () => publisher.publish(orderEvent('o-nogroup', 2)), 'o-nogroup', 2)
  // Destroyed again with an event published before the reader notices: it resumes from its last id.
  await redis.xgroup('DESTROY', layout.streamKey(0), app.streamConsumers.group)
  await heldThenNotified(t, app, () => publisher.publish(orderEvent('o-nogroup', 3)), 'o-nogroup', 3)
})

t.test('readers whose connections are killed reconnect and deliver again', async (t) => {
  const { app, prefix, config } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-kill', 1))
  const admin = createRedisClient({ url: TEST_REDIS_URL })
  t.teardown(() => admin.disconnect())
  const gatewayName = `herald-gateway-${config.HERALD_INSTANCE_ID}`
  for (let round = 2; round <= 4; round++) {
    // Only this gateway's connections: other test processes share this Redis.
    const list = await admin.call('CLIENT', 'LIST') as string
    const ours = list.split('\n').filter((line) => line.includes(` name=${gatewayName}`))
    t.ok(ours.some((line) => line.includes(` name=${gatewayName}-reader-s0 `)), 'the reader is connected under its name')
    for (const line of ours) await admin.call('CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(line)![1]!)
    await waitUntil(() => app.streamConsumers.connected && app.redis.status === 'ready', 'the connections to come back')
    await heldThenNotified(t, app, () => publisher.publish(orderEvent('o-kill', round)), 'o-kill', round)
  }
})

t.test('groups of replicas idle past GATEWAY_GROUP_IDLE_MS are removed; live ones stay', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { redis, layout } = usePublisher(t, prefix)
  const key = layout.metaKey('gateway-instances')
  t.ok(await redis.zscore(key, app.config.HERALD_INSTANCE_ID), 'this replica beats')
  await redis.xgroup('CREATE', layout.streamKey(0), 'gw:gone-replica', '$', 'MKSTREAM')
  await redis.zadd(key, Date.now() - 3600_000, 'gone-replica')
  await redis.xgroup('CREATE', layout.streamKey(0), 'gw:orphan', '$')
  await redis.xgroup('CREATE', layout.streamKey(0), 'not-a-gateway', '$')
  const removed = await app.streamConsumers.instances.sweep()
  t.same(removed.sort(), ['gw:gone-replica', 'gw:orphan'])
  const names = (await readGroups(redis, layout.streamKey(0))).map((g) => g.name)
  t.same(names.sort(), [app.streamConsumers.group, 'not-a-gateway'].sort())
  t.equal(await redis.zscore(key, 'gone-replica'), null)
})

t.test('lag and pending per group are exported on scrape; close removes this replica\'s group', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher, redis, layout } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-lag', 1))
  // Delivery (lag 0) comes before the acknowledgement (pending 0): wait for both.
  const pendingZero = new RegExp(`herald_gateway_stream_pending\\{[^}]*group="${app.streamConsumers.group}"[^}]*\\} 0`)
  const lagZero = /herald_gateway_stream_lag\{[^}]*\} 0/
  await waitUntil(async () => {
    const body = (await app.inject({ url: '/metrics' })).body
    return lagZero.test(body) && pendingZero.test(body)
  }, 'lag 0 and pending 0')
  t.pass('lag and pending of this replica\'s group reached 0')
  await app.close()
  const groups = await readGroups(redis, layout.streamKey(0))
  t.same(groups, [], 'the group is gone with the replica')
})
