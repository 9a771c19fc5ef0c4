// One atomic Redis step per event: stream entry, latest snapshot and history, idempotent on the version.
import type { StreamEvent } from '@herald/contracts'
import type { RedisClient } from './redis.js'
import type { StreamLayout } from './layout.js'

/*
 * KEYS: stream, snapshot hash, history zset.
 * ARGV: event JSON, version, entity type, entity id, event id, retention ms, history max, snapshot ttl ms.
 * Returns {1, streamId} when published, {0, currentVersion} when this version (or a newer one) is already
 * there, {-1, currentVersion} when an earlier version is missing: the caller publishes that one first.
 */
const PUBLISH_SCRIPT = `
local version = tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
if version <= current then return {0, tostring(current)} end
if current > 0 and version > current + 1 then return {-1, tostring(current)} end
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minId = string.format('%d-0', math.max(0, nowMs - tonumber(ARGV[6])))
local id = redis.call('XADD', KEYS[1], 'MINID', '~', minId, '*', 't', ARGV[3], 'i', ARGV[4], 'v', ARGV[2], 'x', ARGV[5], 'e', ARGV[1])
redis.call('HSET', KEYS[2], 'v', ARGV[2], 'e', ARGV[1], 's', id)
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], version, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[7]) + 1))
redis.call('PEXPIRE', KEYS[3], ARGV[8])
return {1, id}
`

export interface PublishOptions {
  /** Stream retention, `HERALD_STREAM_RETENTION_MS`: entries older than this are trimmed (MINID ~). */
  retentionMs: number
  /** Events kept per entity for SSE replay. */
  historyMax?: number
  /** How long an untouched snapshot and history live. */
  snapshotTtlMs?: number
}

export type PublishResult =
  | { status: 'published', streamId: string }
  | { status: 'duplicate', currentVersion: number }
  | { status: 'gap', currentVersion: number }

type ScriptClient = RedisClient & {
  heraldPublish?: (stream: string, snapshot: string, history: string, ...args: string[]) => Promise<[number, string]>
}

export class EventPublisher {
  readonly #redis: ScriptClient
  readonly #layout: StreamLayout
  readonly #options: Required<PublishOptions>

  constructor (redis: RedisClient, layout: StreamLayout, options: PublishOptions) {
    this.#redis = redis as ScriptClient
    this.#layout = layout
    this.#options = {
      retentionMs: options.retentionMs,
      historyMax: options.historyMax ?? 200,
      snapshotTtlMs: options.snapshotTtlMs ?? 7 * 24 * 3600_000
    }
    if (this.#redis.heraldPublish === undefined) {
      this.#redis.defineCommand('heraldPublish', { numberOfKeys: 3, lua: PUBLISH_SCRIPT })
    }
  }

  async publish (event: StreamEvent): Promise<PublishResult> {
    const [code, value] = await this.#redis.heraldPublish!(...this.#argsOf(event))
    return resultOf(code, value)
  }

  /**
   * Publishes many events, one pipeline (one round trip) per shard: a shard's keys share a hash tag, so
   * each pipeline goes to one node in a cluster too. Events of one entity keep their order (they are on
   * one shard); results come back in the order of `events`. A failed pipeline rejects.
   */
  async publishMany (events: readonly StreamEvent[]): Promise<PublishResult[]> {
    // A lone event (a quiet moment's commit) skips building a pipeline: a tenth of a millisecond before
    // the request that committed it is answered.
    if (events.length === 1) return [await this.publish(events[0]!)]
    const results = new Array<PublishResult>(events.length)
    await Promise.all([...this.#layout.indexesByShard(events).values()].map(async (indexes) => {
      const pipeline = this.#redis.pipeline() as ReturnType<RedisClient['pipeline']> & { heraldPublish: (...args: string[]) => unknown }
      for (const index of indexes) pipeline.heraldPublish(...this.#argsOf(events[index]!))
      const replies = (await pipeline.exec()) ?? []
      indexes.forEach((eventIndex, i) => {
        const [err, reply] = replies[i] ?? [new Error('pipeline answered nothing')]
        if (err !== null && err !== undefined) throw err
        const [code, value] = reply as [number, string]
        results[eventIndex] = resultOf(code, value)
      })
    }))
    return results
  }

  #argsOf (event: StreamEvent): [string, string, string, ...string[]] {
    const layout = this.#layout
    const shard = layout.shardOf(event.entityType, event.entityId)
    return [
      layout.streamKey(shard),
      layout.snapshotKey(event.entityType, event.entityId),
      layout.historyKey(event.entityType, event.entityId),
      JSON.stringify(event),
      String(event.version),
      event.entityType,
      event.entityId,
      event.eventId,
      String(this.#options.retentionMs),
      String(this.#options.historyMax),
      String(this.#options.snapshotTtlMs)
    ]
  }
}

function resultOf (code: number, value: string): PublishResult {
  if (code === 1) return { status: 'published', streamId: value }
  if (code === 0) return { status: 'duplicate', currentVersion: Number(value) }
  return { status: 'gap', currentVersion: Number(value) }
}
