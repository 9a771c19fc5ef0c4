// The shard count every service must share, recorded in Redis by the first service that connects.
import type { RedisClient } from './redis.js'
import type { StreamLayout } from './layout.js'

/**
 * A service configured with another shard count than the one the streams were written with would hash
 * entities to other streams and keys: readers would wait on streams nobody writes.
 */
export class ShardCountMismatchError extends Error {
  readonly configured: number
  readonly recorded: number
  readonly key: string
  constructor (configured: number, recorded: number, key: string) {
    super(`HERALD_STREAM_SHARDS is ${configured} but the streams in this Redis were written with ${recorded} shards (recorded at ${key}); ` +
      'start every service with the same HERALD_STREAM_SHARDS, or follow the procedure to change the shard count (docs/RELIABILITY.md)')
    this.name = 'ShardCountMismatchError'
    this.configured = configured
    this.recorded = recorded
    this.key = key
  }
}

/** The key holding the shard count of a prefix. */
export function shardCountKey (layout: StreamLayout): string {
  return layout.metaKey('shards')
}

/**
 * Records `layout.shards` when no count is recorded yet (after a data loss too), then throws
 * ShardCountMismatchError when the recorded count differs.
 */
export async function claimShardCount (redis: RedisClient, layout: StreamLayout): Promise<void> {
  const key = shardCountKey(layout)
  // SET NX then GET, not SET NX GET: that pair needs Redis 7.
  if (await redis.set(key, String(layout.shards), 'NX') === 'OK') return
  const value = await redis.get(key)
  if (value === null) return
  const recorded = Number(value)
  if (recorded !== layout.shards) throw new ShardCountMismatchError(layout.shards, recorded, key)
}
