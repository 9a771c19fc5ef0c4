// The SQL of back-end deliveries: cursors and leases per endpoint, retries queued per entity, dead letters.
import type pg from 'pg'
import type { StreamEvent } from '@herald/contracts'

export interface Lease {
  position: string
  backoffUntil: Date | null
  consecutiveFailures: number
}

/** An event an endpoint has still to take, from the outbox after its cursor or from its retries. */
export interface PendingEvent {
  outboxId: string
  entityType: string
  entityId: string
  payload: StreamEvent | null
  /** Attempts already made (0: never tried). */
  attempts: number
  fromRetries: boolean
}

export interface FailedAttempt {
  event: PendingEvent
  attempts: number
  status: number | null
  error: string
}

/** Everything one pass decided, written in one transaction together with the cursor. */
export interface PassOutcome {
  /** The new cursor when the pass read events past it. */
  position: string | null
  /** Retries that were delivered (their rows go). */
  delivered: string[]
  /** Failed attempts to try again at `nextAttemptAt`. */
  retry: Array<FailedAttempt & { nextAttemptAt: Date }>
  /** Events queued behind an earlier event of their entity (or not attempted), never tried yet. */
  queued: PendingEvent[]
  /** Events whose schedule is spent. */
  dead: FailedAttempt[]
  successes: number
  /** Set when the endpoint as a whole failed: no new events until then. */
  backoffUntil: Date | null
  lastError: string | null
}

const EVENT_COLUMNS = 'entity_type as "entityType", entity_id as "entityId"'

/** Each entity's retries, oldest first, for entities whose oldest retry is due ($2 rows at most). */
const DUE_RETRIES = `with heads as (
    select distinct on (entity_type, entity_id) entity_type, entity_id, next_attempt_at
    from delivery_retries where endpoint_id = $1
    order by entity_type, entity_id, outbox_id
  )
  select r.outbox_id::text as "outboxId", r.entity_type as "entityType", r.entity_id as "entityId", r.attempts,
    coalesce(r.payload, o.payload) as payload, true as "fromRetries"
  from heads h
  join delivery_retries r on r.endpoint_id = $1 and r.entity_type = h.entity_type and r.entity_id = h.entity_id
  left join outbox o on o.id = r.outbox_id
  where h.next_attempt_at <= now()
  order by r.outbox_id
  limit $2`

export class DeliveryStore {
  readonly #pool: pg.Pool

  constructor (pool: pg.Pool) {
    this.#pool = pool
  }

  /** A new endpoint starts at the end of the outbox: it receives what is committed from now on. */
  async register (endpointId: string, url: string): Promise<void> {
    await this.#pool.query(
      `insert into delivery_cursors (endpoint_id, url, position) values ($1, $2, (select coalesce(max(id), 0) from outbox))
       on conflict (endpoint_id) do update set url = excluded.url`,
      [endpointId, url])
  }

  /** Takes or renews the endpoint's lease; null while another replica holds it. */
  async claimLease (endpointId: string, owner: string, leaseMs: number): Promise<Lease | null> {
    const { rows: [row] } = await this.#pool.query<Lease>(
      `update delivery_cursors set lease_owner = $2, lease_until = now() + make_interval(secs => $3::double precision / 1000)
       where endpoint_id = $1 and (lease_owner is null or lease_owner = $2 or lease_until < now())
       returning position::text, backoff_until as "backoffUntil", consecutive_failures as "consecutiveFailures"`,
      [endpointId, owner, leaseMs])
    return row ?? null
  }

  async renewLease (endpointId: string, owner: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `update delivery_cursors set lease_until = now() + make_interval(secs => $3::double precision / 1000)
       where endpoint_id = $1 and lease_owner = $2`, [endpointId, owner, leaseMs])
    return rowCount === 1
  }

  async releaseLease (endpointId: string, owner: string): Promise<void> {
    await this.#pool.query('update delivery_cursors set lease_owner = null, lease_until = null where endpoint_id = $1 and lease_owner = $2', [endpointId, owner])
  }

  async dueRetries (endpointId: string, limit: number): Promise<PendingEvent[]> {
    return (await this.#pool.query<PendingEvent>(DUE_RETRIES, [endpointId, limit])).rows
  }

  /** Outbox events after the cursor, up to the committed horizon, in id (commit) order. */
  async eventsAfter (after: string, upTo: string, limit: number): Promise<PendingEvent[]> {
    const { rows } = await this.#pool.query<PendingEvent>(
      `select id::text as "outboxId", ${EVENT_COLUMNS}, payload, 0 as attempts, false as "fromRetries"
       from outbox where id > $1 and id <= $2 order by id limit $3`, [after, upTo, limit])
    return rows
  }

  /** Which of these entities have events waiting in the endpoint's retries (later ones must queue behind). */
  async entitiesWithRetries (endpointId: string, entities: ReadonlyArray<{ entityType: string, entityId: string }>): Promise<Set<string>> {
    if (entities.length === 0) return new Set()
    const { rows } = await this.#pool.query<{ entityType: string, entityId: string }>(
      `select distinct r.entity_type as "entityType", r.entity_id as "entityId" from delivery_retries r
       join unnest($2::text[], $3::text[]) as e(entity_type, entity_id) on r.entity_type = e.entity_type and r.entity_id = e.entity_id
       where r.endpoint_id = $1`,
      [endpointId, entities.map((e) => e.entityType), entities.map((e) => e.entityId)])
    return new Set(rows.map((r) => entityKey(r.entityType, r.entityId)))
  }

  /**
   * Writes a pass: retries, queue, dead letters, health and the cursor, in one transaction, only while
   * `owner` still holds the lease. False when it lost it (another replica took over): nothing is written,
   * and what this pass sent will be sent again (at least once; the receiver dedupes by webhook-id).
   */
  async commitPass (endpointId: string, owner: string, pass: PassOutcome): Promise<boolean> {
    const client = await this.#pool.connect()
    try {
      await client.query('begin')
      const { rowCount } = await client.query(
        `update delivery_cursors set position = coalesce($3::bigint, position),
           consecutive_failures = case when $4::int > 0 then 0 when $5::timestamptz is not null then consecutive_failures + 1 else consecutive_failures end,
           backoff_until = case when $4::int > 0 then null else coalesce($5::timestamptz, backoff_until) end,
           last_success_at = case when $4::int > 0 then now() else last_success_at end,
           last_failure_at = case when $6::text is not null then now() else last_failure_at end,
           last_error = coalesce($6::text, last_error), updated_at = now()
         where endpoint_id = $1 and lease_owner = $2`,
        [endpointId, owner, pass.position, pass.successes, pass.backoffUntil, pass.lastError])
      if (rowCount !== 1) {
        await client.query('rollback')
        return false
      }
      if (pass.delivered.length > 0 || pass.dead.length > 0) {
        await client.query('delete from delivery_retries where endpoint_id = $1 and outbox_id = any($2::bigint[])',
          [endpointId, [...pass.delivered, ...pass.dead.map((d) => d.event.outboxId)]])
      }
      if (pass.retry.length > 0) {
        const r = pass.retry
        await client.query(
          `insert into delivery_retries (endpoint_id, outbox_id, entity_type, entity_id, attempts, next_attempt_at, last_status, last_error)
           select $1, * from unnest($2::bigint[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::int[], $8::text[])
           on conflict (endpoint_id, outbox_id) do update set attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
             last_status = excluded.last_status, last_error = excluded.last_error`,
          [endpointId, r.map((f) => f.event.outboxId), r.map((f) => f.event.entityType), r.map((f) => f.event.entityId),
            r.map((f) => f.attempts), r.map((f) => f.nextAttemptAt), r.map((f) => f.status), r.map((f) => f.error)])
      }
      if (pass.queued.length > 0) {
        const q = pass.queued
        await client.query(
          `insert into delivery_retries (endpoint_id, outbox_id, entity_type, entity_id)
           select $1, * from unnest($2::bigint[], $3::text[], $4::text[]) on conflict do nothing`,
          [endpointId, q.map((e) => e.outboxId), q.map((e) => e.entityType), q.map((e) => e.entityId)])
      }
      if (pass.dead.length > 0) {
        const d = pass.dead
        await client.query(
          `insert into delivery_dead_letters (endpoint_id, outbox_id, entity_type, entity_id, payload, attempts, last_status, last_error)
           select $1, * from unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::int[], $7::int[], $8::text[])`,
          [endpointId, d.map((f) => f.event.outboxId), d.map((f) => f.event.entityType), d.map((f) => f.event.entityId),
            d.map((f) => JSON.stringify(f.event.payload)), d.map((f) => f.attempts), d.map((f) => f.status), d.map((f) => f.error)])
      }
      await client.query('commit')
      return true
    } catch (err) {
      await client.query('rollback').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }
}

export const entityKey = (type: string, id: string): string => `${type}\u0000${id}`

export interface DeadLetterRow {
  id: string
  endpointId: string
  outboxId: string
  entityType: 'order' | 'registration'
  entityId: string
  attempts: number
  lastStatus: number | null
  lastError: string | null
  deadAt: Date
  redeliveredAt: Date | null
}

const DEAD_LETTER_COLUMNS = `id::text, endpoint_id as "endpointId", outbox_id::text as "outboxId", entity_type as "entityType",
  entity_id as "entityId", attempts, last_status as "lastStatus", last_error as "lastError", dead_at as "deadAt", redelivered_at as "redeliveredAt"`

/** Dead letters for the admin API (endpoint health is @herald/db's readBackendEndpointHealth, shared with the gateway). */
export class DeliveryReports {
  readonly #pool: pg.Pool

  constructor (pool: pg.Pool) {
    this.#pool = pool
  }

  async deadLetters (endpointId: string | undefined, limit: number): Promise<DeadLetterRow[]> {
    const { rows } = await this.#pool.query<DeadLetterRow>(
      `select ${DEAD_LETTER_COLUMNS} from delivery_dead_letters
       where ($1::text is null or endpoint_id = $1) order by delivery_dead_letters.id desc limit $2`, [endpointId ?? null, limit])
    return rows
  }

  /**
   * Queues a dead letter for its endpoint again, at the head of its entity's retries, with a fresh
   * schedule; null when there is no such dead letter. Sending it twice is harmless (same webhook-id).
   */
  async redeliver (id: string): Promise<DeadLetterRow | null> {
    const { rows: [row] } = await this.#pool.query<DeadLetterRow>(
      `with marked as (
         update delivery_dead_letters set redelivered_at = now() where id = $1::bigint
         returning *
       ), queued as (
         insert into delivery_retries (endpoint_id, outbox_id, entity_type, entity_id, payload)
         select endpoint_id, outbox_id, entity_type, entity_id, payload from marked
         on conflict (endpoint_id, outbox_id) do update set attempts = 0, next_attempt_at = now(), payload = excluded.payload
       )
       select ${DEAD_LETTER_COLUMNS} from marked`, [id])
    return row ?? null
  }
}
