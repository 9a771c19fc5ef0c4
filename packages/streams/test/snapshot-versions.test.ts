import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { StreamLayout, createRedisClient, readSnapshotVersions } from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `t-versions-${randomBytes(4).toString('hex')}`
const redis = createRedisClient({ url }) as Redis

t.teardown(async () => {
  const keys = await redis.keys(`${prefix}:*`)
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000))
  redis.disconnect()
})

/** The names of the commands `client` sends while `run` runs. */
async function commandsOf<T> (client: Redis, run: () => Promise<T>): Promise<{ result: T, commands: string[] }> {
  const commands: string[] = []
  const send = client.sendCommand.bind(client)
  client.sendCommand = (command, ...rest) => {
    commands.push(command.name)
    return send(command, ...rest)
  }
  try {
    return { result: await run(), commands }
  } finally {
    client.sendCommand = send
  }
}

t.test('versions come back in the order asked, 0 where Redis has no snapshot, one script call per shard', async (t) => {
  const layout = new StreamLayout({ prefix: `${prefix}-a`, shards: 4 })
  const ids = Array.from({ length: 12 }, (_, i) => `ord_${i}`)
  t.equal(new Set(ids.map((id) => layout.shardOf('order', id))).size, 4, 'the entities span the four shards')
  // Every third entity has no snapshot; the others are at versions 1 to 8.
  const expected = ids.map((_, i) => (i % 3 === 0 ? 0 : i))
  for (const [i, id] of ids.entries()) if (expected[i]! > 0) await redis.hset(layout.snapshotKey('order', id), 'v', String(expected[i]), 'e', '{}')
  const entities = ids.map((entityId) => ({ entityType: 'order' as const, entityId }))
  const { result, commands } = await commandsOf(redis, () => readSnapshotVersions(redis, layout, entities))
  t.same(result, expected)
  t.same(commands, ['evalsha', 'evalsha', 'evalsha', 'evalsha'], 'one command per shard, none per entity')
})

t.test('the same entity asked twice, and registrations beside orders, each get their own answer', async (t) => {
  const layout = new StreamLayout({ prefix: `${prefix}-b`, shards: 2 })
  await redis.hset(layout.snapshotKey('registration', 'r1'), 'v', '5')
  await redis.hset(layout.snapshotKey('order', 'r1'), 'v', '2')
  const entities = [{ entityType: 'registration', entityId: 'r1' }, { entityType: 'order', entityId: 'r1' }, { entityType: 'registration', entityId: 'r1' }, { entityType: 'order', entityId: 'none' }] as const
  t.same(await readSnapshotVersions(redis, layout, entities), [5, 2, 5, 0])
})

t.test('a long list on one shard is read in calls of at most 1,000 keys', async (t) => {
  const layout = new StreamLayout({ prefix: `${prefix}-c`, shards: 1 })
  const ids = Array.from({ length: 2500 }, (_, i) => `reg_${i}`)
  const pipeline = redis.pipeline()
  for (const [i, id] of ids.entries()) if (i % 2 === 1) pipeline.hset(layout.snapshotKey('registration', id), 'v', String(i))
  await pipeline.exec()
  const { result, commands } = await commandsOf(redis, () => readSnapshotVersions(redis, layout, ids.map((entityId) => ({ entityType: 'registration' as const, entityId }))))
  t.same(result, ids.map((_, i) => (i % 2 === 1 ? i : 0)))
  t.equal(commands.length, 3, 'three calls for 2,500 keys')
})

t.test('nothing asked, nothing sent', async (t) => {
  const layout = new StreamLayout({ prefix: `${prefix}-d`, shards: 4 })
  const { result, commands } = await commandsOf(redis, () => readSnapshotVersions(redis, layout, []))
  t.same(result, [])
  t.same(commands, [])
})
