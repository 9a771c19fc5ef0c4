// Moves committed outbox rows to Redis Streams: at once after a commit, and by a periodic sweep that any
// number of ingest replicas can run side by side (FOR UPDATE SKIP LOCKED), always in version order per entity.
// What is not published yet is a row of `outbox_pending`, written with the outbox row and deleted once the
// event is on its stream: the outbox itself is never updated.
import type pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import type { StreamEvent } from '@herald/contracts'
import type { EventPublisher, PublishResult } from '@herald/streams'
import { PeriodicTask } from '@herald/service-kit'
import { run } from '../repositories/transaction.js'

export interface OutboxRelayOptions {
  /** Sweeps and published marks; best a small pool of its own, so they never queue behind requests. */
  pool: pg.Pool
  publisher: EventPublisher
  /** False while Redis is unreachable: the relay then leaves rows alone instead of failing each one. */
  isRedisReady: () => boolean
  log: FastifyBaseLogger
  sweepIntervalMs: number
  batchSize?: number
  /** Seconds from commit to stream, per publish path. */
  onPublished?: (path: 'immediate' | 'sweep', latencySeconds: number) => void
}

/** Events one transaction committed, all of one entity in version order, as the transaction saw the outbox. */
export interface CommittedEvents {
  readonly events: readonly StreamEvent[]
  /** Outbox ids of earlier versions of the entity that were unpublished when the transaction wrote. */
  readonly waitingBefore: readonly string[]
}

/** How long a published row waits for others to be marked with it: a few ms trades nothing for fewer statements. */
const MARK_DELAY_MS = 2

/** Marks rows published: a delete of their pending rows, which writes no index entry and no new tuple. */
const MARK_PUBLISHED = 'delete from outbox_pending where id = any($1::bigint[])'

/** The sweep's transaction: every join it makes is a lookup by index. */
export const SWEEP_BEGIN = 'begin; set local enable_hashjoin = off; set local enable_mergejoin = off'

/**
 * Pending rows of every transaction committed so far, whatever order they committed in, with their outbox
 * rows: the pending rows are picked (and locked) first, at most `$1`, and each is then looked up in the
 * outbox by id (`SWEEP_BEGIN`). Left to the statistics, the planner would walk the whole outbox (a merge
 * join along its primary key, or a hash of all its rows) whenever it expected many rows pending: after a
 * backlog, or on a young table. On every sweep, with the outbox growing for a week of retention.
 */
export const SWEEP_DUE = `with due as materialized (
    select id from outbox_pending order by id limit $1 for update skip locked
  )
  select d.id::text, o.entity_type, o.entity_id, o.version, o.payload
  from due d join outbox o on o.id = d.id
  order by d.id`

/** SQL true for a published row of the outbox aliased `alias`: the relay has deleted its pending row. */
export const publishedOutboxRow = (alias: string): string => `not exists (select 1 from outbox_pending p where p.id = ${alias}.id)`

interface OutboxRow {
  id: string
  entity_type: string
  entity_id: string
  version: number
  payload: StreamEvent
}

const entityKey = (type: string, id: string) => `${type}\u0000${id}`

export class OutboxRelay {
  readonly #pool: pg.Pool
  readonly #publisher: EventPublisher
  readonly #isRedisReady: () => boolean
  readonly #log: FastifyBaseLogger
  readonly #batchSize: number
  readonly #onPublished: OutboxRelayOptions['onPublished']
  readonly #sweeps: PeriodicTask
  #sweeping: Promise<number> | undefined
  readonly #inflight = new Set<Promise<void>>()
  /** Outbox ids this relay put on the stream whose pending rows are not deleted yet. */
  readonly #unmarked = new Set<string>()
  #markTimer: NodeJS.Timeout | undefined
  #marking: Promise<void> | undefined
  #closed = false

  constructor (options: OutboxRelayOptions) {
    this.#pool = options.pool
    this.#publisher = options.publisher
    this.#isRedisReady = options.isRedisReady
    this.#log = options.log
    this.#batchSize = options.batchSize ?? 200
    this.#onPublished = options.onPublished
    this.#sweeps = new PeriodicTask({ name: 'outbox sweep', intervalMs: options.sweepIntervalMs, log: options.log, run: () => this.drain() })
  }

  /** Starts the periodic sweep; idempotent. */
  start (): void {
    this.#sweeps.start()
  }

  /**
   * Publishes what one commit wrote (per entity, in version order), without waiting for the sweep: one
   * Redis pipeline per shard. An entity is skipped when an earlier version of it was still unpublished at
   * commit and is neither one this relay already put on the stream nor published by this call: the sweep
   * publishes in order. Never throws; never blocks the caller's answer; touches Postgres only to mark
   * rows published, in batches.
   */
  publishCommitted (...committed: readonly CommittedEvents[]): void {
    if (this.#closed || !this.#isRedisReady()) return
    const events: StreamEvent[] = []
    const publishing = new Set<string>()
    for (const { events: entityEvents, waitingBefore } of committed) {
      if (entityEvents.length === 0) continue
      // An earlier version is waiting (Redis was down, or another commit's publish is still in flight).
      if (!waitingBefore.every((id) => this.#unmarked.has(id) || publishing.has(id))) continue
      for (const event of entityEvents) {
        events.push(event)
        publishing.add(event.eventId)
      }
    }
    if (events.length === 0) return
    const task = this.#publishCommitted(events)
      .catch((err) => this.#log.warn({ err }, 'immediate publish failed; the sweep will retry'))
      .finally(() => this.#inflight.delete(task))
    this.#inflight.add(task)
  }

  async #publishCommitted (events: readonly StreamEvent[]): Promise<void> {
    try {
      const results = await this.#publisher.publishMany(events)
      // A gap leaves the entity's row (and so its later ones) unmarked: the sweep republishes in order.
      const gapped = new Set<string>()
      events.forEach((event, i) => {
        const key = entityKey(event.entityType, event.entityId)
        if (results[i]!.status === 'gap') gapped.add(key)
        if (gapped.has(key)) return
        this.#unmarked.add(event.eventId)
        this.#observe('immediate', event)
      })
    } finally {
      this.#scheduleMarking()
    }
  }

  /**
   * Marks what the immediate path published, many rows per statement: one flush at a time, and what
   * arrives meanwhile goes in the next, so the batches grow with the load. A row whose mark is lost (a
   * failed flush, a crash) stays unpublished in Postgres: the sweep publishes it again, which the stream
   * answers as a duplicate, and marks it then.
   */
  #scheduleMarking (): void {
    if (this.#closed || this.#marking !== undefined || this.#markTimer !== undefined || this.#unmarked.size === 0) return
    this.#markTimer = setTimeout(() => {
      this.#markTimer = undefined
      this.#marking = this.#markPublished().finally(() => {
        this.#marking = undefined
        this.#scheduleMarking()
      })
    }, MARK_DELAY_MS)
    this.#markTimer.unref()
  }

  async #markPublished (): Promise<void> {
    // Only one flush runs at a time (the timer waits for it; close() waits for it too).
    const ids = [...this.#unmarked]
    if (ids.length === 0) return
    // Ascending ids, the order the sweep locks rows in, so the two never wait on each other in a cycle.
    ids.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0))
    try {
      // A named statement on a connection of its own (see `run`): parsed and planned once, not per flush.
      const client = await this.#pool.connect()
      let failure: Error | undefined
      try {
        await run(client, 'herald_mark_published', MARK_PUBLISHED, [ids])
      } catch (err) {
        failure = err as Error
        throw err
      } finally {
        // A connection whose statement failed may be broken: the pool discards it.
        client.release(failure)
      }
    } catch (err) {
      this.#log.warn({ err, rows: ids.length }, 'marking published outbox rows failed; the sweep will mark them')
    } finally {
      for (const id of ids) this.#unmarked.delete(id)
    }
  }

  /** Sweeps until a batch comes back short; returns how many rows were published. */
  async drain (): Promise<number> {
    let total = 0
    for (;;) {
      const { published, locked } = await this.#sweepOnce()
      total += published
      if (this.#closed || locked < this.#batchSize || published === 0) return total
    }
  }

  /** One sweep of at most one batch; concurrent calls share the sweep in progress. */
  async sweep (): Promise<number> {
    return (await this.#sweepOnce()).published
  }

  #sweepOnce (): Promise<{ published: number, locked: number }> {
    if (this.#closed || !this.#isRedisReady()) return Promise.resolve({ published: 0, locked: 0 })
    if (this.#sweeping !== undefined) return this.#sweeping.then((published) => ({ published, locked: 0 }))
    let locked = 0
    const run = this.#sweepBatch((n) => { locked = n })
    // Callers that join this sweep only need its count; a failure is the first caller's to report. Without
    // the catch, a failed sweep nobody joined would be an unhandled rejection and stop the process.
    this.#sweeping = run.catch(() => 0).finally(() => { this.#sweeping = undefined })
    return run.then((published) => ({ published, locked }))
  }

  async #sweepBatch (reportLocked: (n: number) => void): Promise<number> {
    const client = await this.#pool.connect()
    try {
      await client.query(SWEEP_BEGIN)
      const { rows } = await client.query<OutboxRow>(SWEEP_DUE, [this.#batchSize])
      reportLocked(rows.length)
      if (rows.length === 0) {
        await client.query('commit')
        return 0
      }
      const publishable = await this.#inVersionOrder(client, rows)
      const published: string[] = []
      await Promise.all([...publishable.values()].map(async (entityRows) => {
        for (const row of entityRows) {
          if (!await this.#publishRow(client, row)) break
          published.push(row.id)
          this.#observe('sweep', row.payload)
        }
      }))
      if (published.length > 0) {
        await client.query(MARK_PUBLISHED, [published])
      }
      await client.query('commit')
      return published.length
    } catch (err) {
      await client.query('rollback').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }

  /**
   * The locked rows that may be published now, per entity in id (= version) order: an entity's rows up to
   * the first earlier unpublished row this relay does not hold (another replica has it locked).
   */
  async #inVersionOrder (client: pg.PoolClient, rows: OutboxRow[]): Promise<Map<string, OutboxRow[]>> {
    const mine = new Map(rows.map((row) => [row.id, row]))
    const entities = new Map<string, { type: string, id: string }>()
    for (const row of rows) entities.set(entityKey(row.entity_type, row.entity_id), { type: row.entity_type, id: row.entity_id })
    const types = [...entities.values()].map((e) => e.type)
    const ids = [...entities.values()].map((e) => e.id)
    const { rows: pending } = await client.query<{ id: string, entity_type: string, entity_id: string }>(
      `select p.id::text, p.entity_type, p.entity_id from outbox_pending p
       join unnest($1::text[], $2::text[]) as e(entity_type, entity_id)
         on p.entity_type = e.entity_type and p.entity_id = e.entity_id
       where p.id <= $3
       order by p.id`,
      [types, ids, rows[rows.length - 1]!.id]
    )
    const blocked = new Set<string>()
    const publishable = new Map<string, OutboxRow[]>()
    for (const { id, entity_type: type, entity_id: entityId } of pending) {
      const key = entityKey(type, entityId)
      if (blocked.has(key)) continue
      const row = mine.get(id)
      if (row === undefined) {
        blocked.add(key)
        continue
      }
      const list = publishable.get(key) ?? []
      list.push(row)
      publishable.set(key, list)
    }
    return publishable
  }

  /** Publishes one row; on a gap (Redis lost versions Postgres marked published) republishes them first. */
  async #publishRow (client: pg.PoolClient, row: OutboxRow): Promise<boolean> {
    let result: PublishResult
    try {
      result = await this.#publisher.publish(row.payload)
      if (result.status !== 'gap') return true
      this.#log.warn({ entityType: row.entity_type, entityId: row.entity_id, version: row.version, redisVersion: result.currentVersion }, 'stream is missing earlier versions; republishing them')
      const { rows: missing } = await client.query<{ payload: StreamEvent }>(
        `select payload from outbox where entity_type = $1 and entity_id = $2 and version > $3 and version < $4
         order by version`,
        [row.entity_type, row.entity_id, result.currentVersion, row.version]
      )
      for (const { payload } of missing) {
        if ((await this.#publisher.publish(payload)).status === 'gap') return false
      }
      result = await this.#publisher.publish(row.payload)
      return result.status !== 'gap'
    } catch (err) {
      this.#log.warn({ err, entityType: row.entity_type, entityId: row.entity_id }, 'publish failed; will retry')
      return false
    }
  }

  #observe (path: 'immediate' | 'sweep', event: StreamEvent): void {
    if (this.#onPublished === undefined) return
    const committedAt = Date.parse(event.occurredAt)
    if (!Number.isNaN(committedAt)) this.#onPublished(path, Math.max(0, Date.now() - committedAt) / 1000)
  }

  /** Stops the sweep, waits for publishes in flight and marks what they published; idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    const sweepsStopped = this.#sweeps.close()
    if (this.#markTimer !== undefined) clearTimeout(this.#markTimer)
    this.#markTimer = undefined
    await Promise.allSettled([sweepsStopped, this.#sweeping, ...this.#inflight, this.#marking])
    await this.#markPublished()
  }
}
