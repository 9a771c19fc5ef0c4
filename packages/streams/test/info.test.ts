import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createRedisClient, readGroups } from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `t-streams-info-${randomBytes(4).toString('hex')}`
const redis = createRedisClient({ url })

t.teardown(async () => {
  const keys = await redis.keys(`${prefix}:*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

t.test('readGroups answers typed records; a missing stream has no groups', async (t) => {
  const stream = `${prefix}:s`
  t.same(await readGroups(redis, stream), [], 'no stream, no groups')
  await redis.xgroup('CREATE', stream, 'g1', '$', 'MKSTREAM')
  const id = await redis.xadd(stream, '*', 'k', 'v')
  await redis.xadd(stream, '*', 'k', 'w')
  await redis.call('XREADGROUP', 'GROUP', 'g1', 'c1', 'COUNT', 1, 'STREAMS', stream, '>')

  const [group] = await readGroups(redis, stream)
  t.match(group, { name: 'g1', consumers: 1, pending: 1, lastDeliveredId: id })
  t.ok(group!.lag === null || group!.lag === 1, 'one entry not yet delivered (when Redis can tell)')
})
