// Reading what the publisher wrote: snapshots, per-entity history, and stream entries.
import { validateStreamEvent, type EntityType, type StreamEvent } from '@herald/contracts'
import type { RedisClient } from './redis.js'
import type { StreamLayout } from './layout.js'
import { fieldsOf } from './info.js'

/** Parses one event JSON written by the publisher; null if it is not a valid event. */
export function parseStreamEvent (json: string | null | undefined): StreamEvent | null {
  if (typeof json !== 'string') return null
  try {
    const value: unknown = JSON.parse(json)
    return validateStreamEvent.check(value) ? value : null
  } catch {
    return null
  }
}

/** The latest published event of an entity (its snapshot), or null when Redis has none. */
export async function readSnapshot (redis: RedisClient, layout: StreamLayout, entityType: EntityType, entityId: string): Promise<StreamEvent | null> {
  return parseStreamEvent(await redis.hget(layout.snapshotKey(entityType, entityId), 'e'))
}

/*
 * KEYS: snapshot hashes of one shard (one hash tag: one slot on a Redis Cluster).
 * Returns each one's version field `v` in the order of KEYS, nil where Redis has no snapshot.
 */
const SNAPSHOT_VERSIONS_SCRIPT = `
local versions = {}
for i, key in ipairs(KEYS) do
  versions[i] = redis.call('HGET', key, 'v')
end
return versions
`

/** Keys per script call: a script holds Redis while it runs, so a long list is read in several calls. */
const SNAPSHOT_VERSIONS_PER_CALL = 1000

type VersionsClient = RedisClient & {
  heraldSnapshotVersions?: (numberOfKeys: number, ...keys: string[]) => Promise<Array<string | null>>
}

/**
 * The snapshot version of each entity, in the order given, 0 where Redis has none: one script call per shard
 * (and per 1,000 entities), not one HGET per entity, which at a few thousand entities costs the caller a
 * command object and a socket write each. Calls to several shards are sent together.
 */
export async function readSnapshotVersions (redis: RedisClient, layout: StreamLayout, entities: ReadonlyArray<{ entityType: EntityType, entityId: string }>): Promise<number[]> {
  const client = redis as VersionsClient
  // Not `readOnly`: a cluster client that reads from replicas would answer with a copy that lags.
  if (client.heraldSnapshotVersions === undefined) client.defineCommand('heraldSnapshotVersions', { lua: SNAPSHOT_VERSIONS_SCRIPT })
  const versions = new Array<number>(entities.length)
  const calls: number[][] = []
  for (const indexes of layout.indexesByShard(entities).values()) {
    for (let from = 0; from < indexes.length; from += SNAPSHOT_VERSIONS_PER_CALL) calls.push(indexes.slice(from, from + SNAPSHOT_VERSIONS_PER_CALL))
  }
  await Promise.all(calls.map(async (indexes) => {
    const keys = indexes.map((index) => layout.snapshotKey(entities[index]!.entityType, entities[index]!.entityId))
    const replies = await client.heraldSnapshotVersions!(keys.length, ...keys)
    indexes.forEach((entityIndex, i) => { versions[entityIndex] = Number(replies[i] ?? 0) })
  }))
  return versions
}

export interface HistoryRead {
  /** Events with version > afterVersion, in version order. */
  events: StreamEvent[]
  /**
   * False when history no longer reaches back to afterVersion + 1 (trimmed or expired): the reader
   * must send a reset with the current snapshot instead of pretending nothing was missed.
   */
  complete: boolean
  latestVersion: number
}

/** Events of one entity after `afterVersion`: O(events of that entity), never a scan of the shard. */
export async function readHistory (redis: RedisClient, layout: StreamLayout, entityType: EntityType, entityId: string, afterVersion: number): Promise<HistoryRead> {
  const historyKey = layout.historyKey(entityType, entityId)
  // One MULTI: a publish landing between separate reads would make a complete history look trimmed.
  // The keys share the shard's hash tag, so this holds on Redis Cluster too.
  const replies = await redis.multi()
    .zrange(historyKey, 0, 0, 'WITHSCORES')
    .hget(layout.snapshotKey(entityType, entityId), 'v')
    .zrangebyscore(historyKey, `(${afterVersion}`, '+inf')
    .exec()
  if (replies === null) throw new Error('history read was aborted')
  for (const [err] of replies) if (err) throw err
  const oldest = replies[0]![1] as string[]
  const snapshotVersion = replies[1]![1] as string | null
  const members = replies[2]![1] as string[]
  const latestVersion = Number(snapshotVersion ?? 0)
  const events = members.map(parseStreamEvent).filter((e): e is StreamEvent => e !== null)
  const oldestVersion = oldest.length === 2 ? Number(oldest[1]) : Infinity
  const complete = afterVersion >= latestVersion || oldestVersion <= afterVersion + 1
  return { events, complete, latestVersion }
}

/** Fields of a stream entry as the publisher writes them. */
export interface StreamEntry {
  streamId: string
  entityType: EntityType
  entityId: string
  version: number
  eventId: string
  json: string
}

/** Turns ioredis' `[id, [k, v, k, v …]]` tuples into entries; malformed ones are skipped. */
export function parseStreamEntries (raw: Array<[string, string[]]>): StreamEntry[] {
  const entries: StreamEntry[] = []
  for (const [streamId, fields] of raw) {
    if (!Array.isArray(fields)) continue
    const map = fieldsOf(fields) as Record<string, string | undefined>
    const t = map.t
    if ((t !== 'order' && t !== 'registration') || map.i === undefined || map.e === undefined) continue
    entries.push({ streamId, entityType: t, entityId: map.i, version: Number(map.v), eventId: map.x ?? '', json: map.e })
  }
  return entries
}
