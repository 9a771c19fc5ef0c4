import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { RegistrationEvent } from '@herald/contracts'
import { EventPublisher, StreamLayout, createRedisClient, parseStreamEntries, readHistory, readSnapshot } from '../src/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `t-streams-${randomBytes(4).toString('hex')}`
const layout = new StreamLayout({ prefix, shards: 4 })
const redis = createRedisClient({ url })

t.teardown(async () => {
  const keys = await redis.keys(`${prefix}:*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

const now = new Date().toISOString()
function registrationEvent (id: string, version: number): RegistrationEvent {
  return {
    eventId: String(1000 + version),
    entityType: 'registration',
    entityId: id,
    version,
    occurredAt: now,
    update: { registrationId: id, status: 'started', stage: `stage_${version}`, message: `step ${version}`, timestamp: now },
    registration: { registrationId: id, status: 'PROCESSING', stage: `stage_${version}`, message: `step ${version}`, processLog: [], createdAt: now, updatedAt: now, version }
  }
}

t.test('publishing writes one stream entry, the snapshot and the history; a re-publish adds nothing', async (t) => {
  const publisher = new EventPublisher(redis, layout, { retentionMs: 3600_000 })
  const event = registrationEvent('r1', 1)
  t.match(await publisher.publish(event), { status: 'published' })
  t.match(await publisher.publish(event), { status: 'duplicate', currentVersion: 1 })
  const shard = layout.shardOf('registration', 'r1')
  const raw = await redis.xrange(layout.streamKey(shard), '-', '+')
  const entries = parseStreamEntries(raw)
  t.equal(entries.length, 1, 'one stream entry')
  t.match(entries[0], { entityType: 'registration', entityId: 'r1', version: 1, eventId: '1001' })
  t.same(await readSnapshot(redis, layout, 'registration', 'r1'), event)
})

t.test('a version published before its predecessor is refused as a gap', async (t) => {
  const publisher = new EventPublisher(redis, layout, { retentionMs: 3600_000 })
  t.match(await publisher.publish(registrationEvent('r2', 1)), { status: 'published' })
  t.match(await publisher.publish(registrationEvent('r2', 3)), { status: 'gap', currentVersion: 1 })
  t.match(await publisher.publish(registrationEvent('r2', 2)), { status: 'published' })
  t.match(await publisher.publish(registrationEvent('r2', 3)), { status: 'published' })
  const history = await readHistory(redis, layout, 'registration', 'r2', 1)
  t.same(history.events.map((e) => e.version), [2, 3], 'history after version 1, in order')
  t.ok(history.complete)
  t.equal(history.latestVersion, 3)
})

t.test('history trimmed past the asked version reports itself incomplete', async (t) => {
  const publisher = new EventPublisher(redis, layout, { retentionMs: 3600_000, historyMax: 3 })
  for (let v = 1; v <= 6; v++) await publisher.publish(registrationEvent('r3', v))
  const gone = await readHistory(redis, layout, 'registration', 'r3', 1)
  t.notOk(gone.complete, 'versions 2 and 3 were trimmed')
  t.same(gone.events.map((e) => e.version), [4, 5, 6])
  const fine = await readHistory(redis, layout, 'registration', 'r3', 3)
  t.ok(fine.complete)
  const upToDate = await readHistory(redis, layout, 'registration', 'r3', 6)
  t.ok(upToDate.complete)
  t.same(upToDate.events, [])
})

t.test('keys of one entity share a hash tag', async (t) => {
  const tagOf = (key: string) => key.slice(key.indexOf('{'), key.indexOf('}') + 1)
  const shard = layout.shardOf('order', 'ord_9')
  t.equal(tagOf(layout.snapshotKey('order', 'ord_9')), tagOf(layout.streamKey(shard)))
  t.equal(tagOf(layout.historyKey('order', 'ord_9')), tagOf(layout.streamKey(shard)))
  t.throws(() => new StreamLayout({ prefix: 'x', shards: 0 }))
})

t.test('publishMany: one pipeline per shard, results in the order given, a gap reported as such', async (t) => {
  const publisher = new EventPublisher(redis, layout, { retentionMs: 3600_000 })
  const ids = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']
  t.ok(new Set(ids.map((id) => layout.shardOf('registration', id))).size > 1, 'the entities span several shards')
  const events = ids.flatMap((id) => [registrationEvent(id, 1), registrationEvent(id, 2)])
  events.push(registrationEvent('m1', 2), registrationEvent('m7', 1), registrationEvent('m7', 3))
  const results = await publisher.publishMany(events)
  t.same(results.map((r) => r.status), [...ids.flatMap(() => ['published', 'published']), 'duplicate', 'published', 'gap'])
  for (const id of ids) t.equal((await readSnapshot(redis, layout, 'registration', id))?.version, 2, `${id} at version 2`)
  t.same(await publisher.publishMany([]), [])
})
