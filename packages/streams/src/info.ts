// Typed answers of XINFO GROUPS: the one place its flat replies are parsed.
import type { RedisClient } from './redis.js'

/** Redis answers `[k, v, k, v …]`; stream entries' fields come the same way. */
export function fieldsOf (flat: readonly unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = flat[i + 1]
  return record
}

export interface GroupInfo {
  name: string
  consumers: number
  /** Delivered to the group and not yet acknowledged. */
  pending: number
  lastDeliveredId: string
  /** Entries not yet delivered to the group; null when Redis cannot tell (after deletions, or Redis < 7). */
  lag: number | null
}

const numberOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value))

function isNoSuchKey (err: unknown): boolean {
  return err instanceof Error && err.message.includes('no such key')
}

/** The consumer groups of a stream; none when the stream does not exist. */
export async function readGroups (redis: RedisClient, streamKey: string): Promise<GroupInfo[]> {
  let reply: unknown[][]
  try {
    reply = await redis.call('XINFO', 'GROUPS', streamKey) as unknown[][]
  } catch (err) {
    if (isNoSuchKey(err)) return []
    throw err
  }
  return reply.map((flat) => {
    const info = fieldsOf(flat)
    return {
      name: String(info.name),
      consumers: Number(info.consumers ?? 0),
      pending: Number(info.pending ?? 0),
      lastDeliveredId: String(info['last-delivered-id'] ?? '0-0'),
      lag: numberOrNull(info.lag)
    }
  })
}
