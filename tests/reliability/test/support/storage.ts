// A test's own Postgres schema and Redis prefix, what Postgres and the streams hold, and the figures a
// test leaves behind for docs/RELIABILITY.md.
import { mkdirSync, writeFileSync } from 'node:fs'
import pg from 'pg'
import { TEST_DATABASE_URL, TEST_REDIS_URL, useTestPrefix, useTestSchema } from '@herald/service-kit/testing'
import { StreamLayout, createRedisClient, parseStreamEntries, type RedisClient } from '@herald/streams'
import { databaseUrlFor, type HeraldStorage, type Teardown } from './processes.js'

export async function useStorage (t: Teardown, label: string, redisUrl = TEST_REDIS_URL): Promise<HeraldStorage> {
  const schema = await useTestSchema(t, label)
  const prefix = useTestPrefix(t, label)
  return { schema, prefix, databaseUrl: databaseUrlFor(schema), redisUrl }
}

/** A direct Postgres connection on the test's schema (never through a test proxy). */
export function usePostgres (t: Teardown, storage: HeraldStorage): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrlFor(storage.schema, TEST_DATABASE_URL), max: 2 })
  t.teardown(() => pool.end())
  return pool
}

export function useRedis (t: Teardown, url: string): RedisClient {
  const redis = createRedisClient({ url, maxRetriesPerRequest: null })
  // A test that restarts its redis-server expects this connection to fail meanwhile; it reconnects.
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  return redis
}

/** Everything the shard streams hold for one entity, in stream order: `[version, eventId]`. */
export async function streamVersions (redis: RedisClient, storage: HeraldStorage, entityType: 'order' | 'registration', entityId: string, shards = 1): Promise<Array<{ version: number, eventId: string }>> {
  const layout = new StreamLayout({ prefix: storage.prefix, shards })
  const found: Array<{ version: number, eventId: string }> = []
  for (const key of layout.streamKeys()) {
    const entries = parseStreamEntries(await redis.xrange(key, '-', '+') as Array<[string, string[]]>)
    for (const entry of entries) {
      const event = JSON.parse(entry.json) as { entityType: string, entityId: string, version: number, eventId: string }
      if (event.entityType === entityType && event.entityId === entityId) found.push({ version: event.version, eventId: event.eventId })
    }
  }
  return found
}

/** Row counts of the tables a write touches: a rejected request must change none of them. */
export async function tableCounts (pool: pg.Pool): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of ['orders', 'registrations', 'registration_events', 'callbacks', 'outbox', 'webhook_receipts', 'parked_callbacks', 'review_items']) {
    try {
      const { rows } = await pool.query(`select count(*)::int as n from ${table}`)
      counts[table] = rows[0].n
    } catch {
      // Tables differ between schema versions; count what exists.
    }
  }
  return counts
}

const resultsDir = new URL('../../results/', import.meta.url)

/** Writes a test's figures to results/<name>.json (read into docs/RELIABILITY.md). */
export function recordFigures (name: string, figures: Record<string, unknown>): void {
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(new URL(`${name}.json`, resultsDir), `${JSON.stringify({ at: new Date().toISOString(), ...figures }, null, 2)}\n`)
}

/** The value below which `share` (0..1) of `values` lie; 0 for none. */
export function percentile (values: number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? 0
}

/** 1..n. */
export function range (n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1)
}
