// The stream layout on a real 3-master Redis Cluster: every shard's keys on one slot, no CROSSSLOT.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import type { Cluster } from 'ioredis'
import type { RegistrationEvent } from '@herald/contracts'
import { EventPublisher, StreamLayout, createRedisClient, parseStreamEntries, readHistory, readSnapshot, readSnapshotVersions, type StreamEntry } from '../src/index.js'

const run = promisify(execFile)
const clusterScript = fileURLToPath(new URL('../../../infra/redis-cluster.sh', import.meta.url))
const masters = 3

async function hasRedisServer (): Promise<boolean> {
  try {
    await run('redis-server', ['--version'])
    return true
  } catch {
    return false
  }
}

async function portIsFree (port: number): Promise<boolean> {
  const server = createServer()
  try {
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    return true
  } catch {
    return false
  } finally {
    server.close()
  }
}

/** A base port whose node ports and cluster bus ports (+10000) are all free. */
async function freeBasePort (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 9000)
    const ports = Array.from({ length: masters }, (_, i) => [base + i, base + i + 10000]).flat()
    let free = true
    for (const port of ports) free &&= await portIsFree(port)
    if (free) return base
  }
  throw new Error('no free ports for a Redis Cluster')
}

if (!(await hasRedisServer())) {
  t.comment('skipped: redis-server is not installed, so no local Redis Cluster can be started')
  t.pass('skipped: redis-server is not installed')
} else {
  const basePort = await freeBasePort()
  const clusterDir = await mkdtemp(join(tmpdir(), 'herald-cluster-test-'))
  const scriptEnv = { ...process.env, REDIS_CLUSTER_DIR: join(clusterDir, 'nodes') }
  t.teardown(async () => {
    await run('bash', [clusterScript, 'stop', String(basePort)], { env: scriptEnv })
    await rm(clusterDir, { recursive: true, force: true })
  })
  await run('bash', [clusterScript, 'start', String(basePort)], { env: scriptEnv, timeout: 90_000 })

  // The cluster is this file's own, so a fixed prefix keeps the shard-to-node spread deterministic.
  const layout = new StreamLayout({ prefix: 'herald-cluster-test', shards: 8 })
  const redis = createRedisClient({ url: `redis+cluster://127.0.0.1:${basePort}` }) as Cluster
  t.teardown(() => redis.disconnect())
  await once(redis, 'ready')

  const now = new Date().toISOString()
  const registrationEvent = (id: string, version: number): RegistrationEvent => ({
    // Event ids are the outbox's bigint ids: numeric and unique.
    eventId: String(Number(id.slice('reg-'.length)) * 100 + version),
    entityType: 'registration',
    entityId: id,
    version,
    occurredAt: now,
    update: { registrationId: id, status: 'started', stage: `stage_${version}`, message: `step ${version}`, timestamp: now },
    registration: { registrationId: id, status: 'PROCESSING', stage: `stage_${version}`, message: `step ${version}`, processLog: [], createdAt: now, updatedAt: now, version }
  })
  const entityIds = Array.from({ length: 120 }, (_, i) => `reg-${i}`)
  const versions = 3

  /** Which master serves a slot, from CLUSTER SLOTS. */
  async function ownerOfSlot (slot: number): Promise<string> {
    const ranges = await redis.cluster('SLOTS')
    const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]
    if (master === undefined) throw new Error(`slot ${slot} is not served`)
    return `${master[0]}:${master[1]}`
  }

  t.test('the eight shards spread over all three masters, each shard on one slot', async (t) => {
    const owners = new Set<string>()
    for (let shard = 0; shard < layout.shards; shard++) {
      const slot = Number(await redis.cluster('KEYSLOT', layout.streamKey(shard)))
      const entityOfShard = entityIds.find((id) => layout.shardOf('registration', id) === shard)
      t.ok(entityOfShard !== undefined, `shard ${shard} has entities`)
      t.equal(Number(await redis.cluster('KEYSLOT', layout.snapshotKey('registration', entityOfShard!))), slot, `shard ${shard}: snapshot on the stream's slot`)
      t.equal(Number(await redis.cluster('KEYSLOT', layout.historyKey('registration', entityOfShard!))), slot, `shard ${shard}: history on the stream's slot`)
      owners.add(await ownerOfSlot(slot))
    }
    t.equal(owners.size, masters, `shards live on ${[...owners].join(', ')}`)
  })

  t.test('publishing through the cluster writes each event atomically on its shard\'s node', async (t) => {
    const publisher = new EventPublisher(redis, layout, { retentionMs: 3600_000 })
    for (let version = 1; version <= versions; version++) {
      const results = await Promise.all(entityIds.map((id) => publisher.publish(registrationEvent(id, version))))
      t.ok(results.every((result) => result.status === 'published'), `version ${version} published for ${entityIds.length} entities`)
    }
    const again = await publisher.publish(registrationEvent(entityIds[0]!, versions))
    t.match(again, { status: 'duplicate', currentVersion: versions }, 'a re-publish is still idempotent on a cluster')
    const gap = await publisher.publish(registrationEvent(entityIds[0]!, versions + 2))
    t.match(gap, { status: 'gap', currentVersion: versions }, 'and a gap is still refused')

    for (const id of entityIds) {
      const snapshot = await readSnapshot(redis, layout, 'registration', id)
      const history = await readHistory(redis, layout, 'registration', id, 0)
      if (snapshot?.version !== versions || history.events.map((e) => e.version).join() !== '1,2,3' || !history.complete) {
        t.fail(`${id}: snapshot v${snapshot?.version}, history ${history.events.map((e) => e.version).join()}`)
      }
    }
    t.pass(`snapshots and histories of all ${entityIds.length} entities read back through the cluster`)

    const perShard = new Map<number, number>()
    for (const id of entityIds) {
      const shard = layout.shardOf('registration', id)
      perShard.set(shard, (perShard.get(shard) ?? 0) + versions)
    }
    for (const [shard, expected] of perShard) {
      t.equal(await redis.xlen(layout.streamKey(shard)), expected, `shard ${shard} stream holds its ${expected} entries`)
    }
  })

  t.test('snapshot versions of entities on every shard are read through the cluster, each shard\'s keys in one script call, so no CROSSSLOT', async (t) => {
    const entities = [...entityIds, 'reg-absent-1', 'reg-absent-2'].map((entityId) => ({ entityType: 'registration' as const, entityId }))
    const versionsRead = await readSnapshotVersions(redis, layout, entities)
    t.same(versionsRead, entities.map(({ entityId }) => (entityId.startsWith('reg-absent') ? 0 : versions)), `${entityIds.length} at version ${versions}, the absent ones 0`)
  })

  t.test('a consumer group per shard reads every entry in per-entity version order, one shard per command', async (t) => {
    const group = 'gateway-test'
    const entries: StreamEntry[] = []
    for (const stream of layout.streamKeys()) {
      await redis.xgroup('CREATE', stream, group, '0')
      for (;;) {
        const reply = await redis.xreadgroup('GROUP', group, 'consumer-1', 'COUNT', 100, 'STREAMS', stream, '>') as Array<[string, Array<[string, string[]]>]> | null
        const batch = parseStreamEntries(reply?.[0]?.[1] ?? [])
        if (batch.length === 0) break
        entries.push(...batch)
        await redis.xack(stream, group, ...batch.map((entry) => entry.streamId))
      }
    }
    t.equal(entries.length, entityIds.length * versions, 'every published event read once')
    const seen = new Map<string, number[]>()
    for (const entry of entries) seen.set(entry.entityId, [...(seen.get(entry.entityId) ?? []), entry.version])
    t.ok([...seen.values()].every((list) => list.join() === '1,2,3'), 'each entity\'s versions arrive in order')
  })

  t.test('a blocked XREADGROUP on one shard wakes for a publish to that shard', async (t) => {
    const reader = redis.duplicate() as Cluster
    t.teardown(() => reader.disconnect())
    await once(reader, 'ready')
    const id = entityIds[7]!
    const stream = layout.streamKey(layout.shardOf('registration', id))
    const blocked = reader.xreadgroup('GROUP', 'gateway-test', 'consumer-2', 'COUNT', 10, 'BLOCK', 60_000, 'STREAMS', stream, '>') as Promise<Array<[string, Array<[string, string[]]>]> | null>
    const publisher = new EventPublisher(redis, layout, { retentionMs: 3600_000 })
    t.match(await publisher.publish(registrationEvent(id, versions + 1)), { status: 'published' })
    const reply = await blocked
    const woken = parseStreamEntries(reply?.[0]?.[1] ?? [])
    t.match(woken, [{ entityId: id, version: versions + 1 }], 'the blocked reader got the new entry')
  })

  t.test('a command over two shards on different nodes is refused with CROSSSLOT: why readers go shard by shard', async (t) => {
    const slots = await Promise.all(layout.streamKeys().map(async (key) => Number(await redis.cluster('KEYSLOT', key))))
    const other = slots.findIndex((slot) => slot !== slots[0])
    await t.rejects(redis.xread('COUNT', 1, 'STREAMS', layout.streamKey(0), layout.streamKey(other), '0', '0'), /CROSSSLOT/)
  })

  t.test('a cluster that requires a password is reached with the credentials of a redis+cluster:// URL', async (t) => {
    const nodes = await Promise.all(Array.from({ length: masters }, async (_, i) => {
      const node = createRedisClient({ url: `redis://127.0.0.1:${basePort + i}` })
      await once(node, 'ready')
      return node
    }))
    t.teardown(async () => {
      for (const node of nodes) {
        await node.config('SET', 'requirepass', '')
        node.disconnect()
      }
    })
    for (const node of nodes) await node.config('SET', 'requirepass', 'p@ss:w/rd')
    const authed = createRedisClient({ url: `redis+cluster://:${encodeURIComponent('p@ss:w/rd')}@127.0.0.1:${basePort}` }) as Cluster
    t.teardown(() => authed.disconnect())
    await once(authed, 'ready')
    const publisher = new EventPublisher(authed, layout, { retentionMs: 3600_000 })
    t.match(await publisher.publish(registrationEvent('reg-999', 1)), { status: 'published' }, 'a publish goes through on an authenticated cluster')
    const anonymous = createRedisClient({ url: `redis+cluster://127.0.0.1:${basePort}`, lazyConnect: true, maxRetriesPerRequest: 0 }) as Cluster
    t.teardown(() => anonymous.disconnect())
    anonymous.on('error', () => {})
    await t.rejects(Promise.race([anonymous.ping(), new Promise((_resolve, reject) => setTimeout(() => reject(new Error('NOAUTH (no answer)')), 5000))]), /NOAUTH|auth|answer|refresh/i, 'without the password nothing is served')
  })
}
