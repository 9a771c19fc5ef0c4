// Where Herald keeps things in Redis: shard streams, latest snapshots and short per-entity histories.
import type { EntityType } from '@herald/contracts'

export interface StreamLayoutOptions {
  /** Key prefix, `HERALD_REDIS_PREFIX`; default `herald`. */
  prefix: string
  /** Number of stream shards, `HERALD_STREAM_SHARDS`; default 1. */
  shards: number
}

/** FNV-1a: stable across processes and languages, cheap, well spread for short ids. */
function fnv1a (text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/**
 * Keys of one shard share a hash tag, so a stream entry, the entity's snapshot and its history are
 * written by one script on one node of a Redis Cluster.
 */
export class StreamLayout {
  readonly prefix: string
  readonly shards: number

  constructor (options: StreamLayoutOptions) {
    if (!Number.isInteger(options.shards) || options.shards < 1 || options.shards > 1024) {
      throw new Error(`shards must be an integer from 1 to 1024, got ${options.shards}`)
    }
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(options.prefix)) throw new Error(`invalid Redis prefix: ${options.prefix}`)
    this.prefix = options.prefix
    this.shards = options.shards
  }

  shardOf (entityType: EntityType, entityId: string): number {
    return fnv1a(`${entityType}:${entityId}`) % this.shards
  }

  #tag (shard: number): string {
    return `${this.prefix}:{${this.prefix}.s${shard}}`
  }

  streamKey (shard: number): string {
    return `${this.#tag(shard)}:stream`
  }

  /**
   * Indexes of `entities` by shard, each list in the order given: a caller sends one command or pipeline per
   * shard, since a shard's keys share a hash tag (one node of a Redis Cluster, one slot).
   */
  indexesByShard (entities: ReadonlyArray<{ entityType: EntityType, entityId: string }>): Map<number, number[]> {
    const byShard = new Map<number, number[]>()
    entities.forEach((entity, index) => {
      const shard = this.shardOf(entity.entityType, entity.entityId)
      const list = byShard.get(shard)
      if (list === undefined) byShard.set(shard, [index])
      else list.push(index)
    })
    return byShard
  }

  snapshotKey (entityType: EntityType, entityId: string): string {
    return `${this.#tag(this.shardOf(entityType, entityId))}:snap:${entityType}:${entityId}`
  }

  historyKey (entityType: EntityType, entityId: string): string {
    return `${this.#tag(this.shardOf(entityType, entityId))}:hist:${entityType}:${entityId}`
  }

  /** Every shard's stream key, index = shard number. */
  streamKeys (): string[] {
    return Array.from({ length: this.shards }, (_, shard) => this.streamKey(shard))
  }

  /** A key outside the shards for per-process bookkeeping (gateway heartbeats and the like). */
  metaKey (name: string): string {
    return `${this.prefix}:meta:${name}`
  }
}
