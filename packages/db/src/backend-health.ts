// Health of the back-end webhook endpoints, read from their delivery tables: the ingest's admin API and
// metrics, and the gateway's dashboard stats, answer from this one query.
import type pg from 'pg'

/** Structurally the contracts' BackendEndpointHealth (this package does not depend on the contracts). */
export interface BackendEndpointHealthReport {
  endpointId: string
  url: string
  state: 'healthy' | 'failing' | 'idle'
  undelivered: number
  oldestUndeliveredAgeSeconds: number | null
  retrying: number
  deadLettered: number
  consecutiveFailures: number
  lastSuccessAt: string | null
  lastFailureAt: string | null
  lastError: string | null
}

/** Which endpoints: those in a configuration, or those some ingest replica served lately. */
export type EndpointSelection = { endpointIds: readonly string[] } | { servedWithinMs: number }

interface HealthRow {
  endpointId: string
  url: string
  consecutiveFailures: number
  lastSuccessAt: Date | null
  lastFailureAt: Date | null
  lastError: string | null
  afterCursor: number
  retrying: number
  deadLettered: number
  oldestUndeliveredAt: Date | null
}

const HEALTH = `select c.endpoint_id as "endpointId", c.url, c.consecutive_failures as "consecutiveFailures",
    c.last_success_at as "lastSuccessAt", c.last_failure_at as "lastFailureAt", c.last_error as "lastError",
    (select count(*)::int from outbox o where o.id > c.position) as "afterCursor",
    (select count(*)::int from delivery_retries r where r.endpoint_id = c.endpoint_id) as "retrying",
    (select count(*)::int from delivery_dead_letters d where d.endpoint_id = c.endpoint_id and d.redelivered_at is null) as "deadLettered",
    least(
      (select o.created_at from outbox o where o.id > c.position order by o.id limit 1),
      (select min(coalesce(o.created_at, r.created_at)) from delivery_retries r left join outbox o on o.id = r.outbox_id where r.endpoint_id = c.endpoint_id)
    ) as "oldestUndeliveredAt"
  from delivery_cursors c
  where ($1::text[] is not null and c.endpoint_id = any($1::text[]))
     or ($2::double precision is not null and c.lease_until > now() - make_interval(secs => $2::double precision / 1000))
  order by c.endpoint_id`

/** Scheme, host and path: no credentials, no query string (either may carry a secret). */
export function displayUrlOf (url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return '(invalid URL)'
  }
}

export async function readBackendEndpointHealth (pool: pg.Pool, selection: EndpointSelection): Promise<BackendEndpointHealthReport[]> {
  const ids = 'endpointIds' in selection ? selection.endpointIds : null
  if (ids !== null && ids.length === 0) return []
  const { rows } = await pool.query<HealthRow>(HEALTH, [ids, 'servedWithinMs' in selection ? selection.servedWithinMs : null])
  const now = Date.now()
  return rows.map((row) => {
    const failing = row.consecutiveFailures > 0 || (row.lastFailureAt !== null && (row.lastSuccessAt === null || row.lastFailureAt > row.lastSuccessAt))
    return {
      endpointId: row.endpointId,
      url: displayUrlOf(row.url),
      state: failing ? 'failing' : row.lastSuccessAt === null ? 'idle' : 'healthy',
      undelivered: row.afterCursor + row.retrying,
      oldestUndeliveredAgeSeconds: row.oldestUndeliveredAt === null ? null : Math.max(0, now - row.oldestUndeliveredAt.getTime()) / 1000,
      retrying: row.retrying,
      deadLettered: row.deadLettered,
      consecutiveFailures: row.consecutiveFailures,
      lastSuccessAt: row.lastSuccessAt?.toISOString() ?? null,
      lastFailureAt: row.lastFailureAt?.toISOString() ?? null,
      lastError: row.lastError
    }
  })
}
