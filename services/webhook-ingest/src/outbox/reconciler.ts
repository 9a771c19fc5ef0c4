// Makes Redis agree with the outbox again: an entity whose snapshot in Redis is missing or older than the
// last version the outbox has published (Redis lost its data, a failover dropped writes, a publish was
// lost after commit) is republished from the outbox, stream entry, snapshot and history.
import type pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import type { EntityType, StreamEvent } from '@herald/contracts'
import { readSnapshotVersions, type EventPublisher, type RedisClient, type StreamLayout } from '@herald/streams'
import { PeriodicTask } from '@herald/service-kit'
import { publishedOutboxRow } from './relay.js'

export type RepairReason = 'missing' | 'behind'

export interface OutboxReconcilerOptions {
  /** One connection: a pass runs in one transaction that holds the replicas' lock. */
  pool: pg.Pool
  redis: RedisClient
  layout: StreamLayout
  publisher: EventPublisher
  isRedisReady: () => boolean
  log: FastifyBaseLogger
  intervalMs: number
  /**
   * After Redis lost its data, the entities with an outbox row this recent are compared. Other passes
   * compare only the last `recentMs`: the cost of a pass follows the traffic of the last seconds, not of
   * the whole window.
   */
  windowMs: number
  /** What a regular pass compares (default: 30 s or ten intervals, whichever is longer, within the window). */
  recentMs?: number
  /** Entities compared per fetch from Postgres and per round of Redis reads (one script call per shard). */
  batchSize?: number
  /** Versions republished at most for an entity Redis lost entirely (the history the gateway replays from). */
  historyMax?: number
  onRepaired?: (reason: RepairReason, events: number) => void
}

interface EntityVersion {
  entityType: EntityType
  entityId: string
  version: number
}

/** What Redis holds of an entity compared with the outbox: how to repair it, or null when it agrees. */
export function repairOf (outboxVersion: number, redisVersion: number): RepairReason | null {
  if (redisVersion >= outboxVersion) return null
  return redisVersion === 0 ? 'missing' : 'behind'
}

/** Shutdown cut a pass short: not a failure. */
class PassCut extends Error {}

export class OutboxReconciler {
  readonly #options: Required<Omit<OutboxReconcilerOptions, 'onRepaired'>> & Pick<OutboxReconcilerOptions, 'onRepaired'>
  /** Present in Redis once a pass compared the whole window: gone after Redis lost its data. */
  readonly #markerKey: string
  readonly #task: PeriodicTask
  #running: Promise<number> | undefined
  #closed = false

  constructor (options: OutboxReconcilerOptions) {
    const recentMs = Math.min(options.windowMs, options.recentMs ?? Math.max(30_000, 10 * options.intervalMs))
    this.#options = { batchSize: 500, historyMax: 200, recentMs, ...options }
    if (!Number.isInteger(this.#options.batchSize) || this.#options.batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${this.#options.batchSize}`)
    this.#markerKey = options.layout.metaKey('reconciled')
    this.#task = new PeriodicTask({ name: 'reconcile pass', intervalMs: options.intervalMs, log: options.log, run: () => this.reconcile() })
  }

  /** Starts the periodic pass; idempotent. */
  start (): void {
    this.#task.start()
  }

  /**
   * One pass over the window; returns how many entities were repaired. Replicas take turns through a
   * Postgres advisory lock (a replica that finds it held skips the pass), so none repeats another's work.
   */
  reconcile (): Promise<number> {
    if (this.#closed || !this.#options.isRedisReady()) return Promise.resolve(0)
    this.#running ??= this.#pass().finally(() => { this.#running = undefined })
    return this.#running
  }

  async #pass (): Promise<number> {
    const client = await this.#options.pool.connect()
    let whole = false
    try {
      await client.query('begin')
      // One lock per schema and Redis prefix: deployments sharing a database do not wait on each other.
      const { rows: [lock] } = await client.query<{ locked: boolean }>(
        "select pg_try_advisory_xact_lock(hashtext('herald-reconciler:' || current_schema() || ':' || $1)) as locked",
        [this.#options.layout.prefix]
      )
      let repaired = 0
      if (lock?.locked === true) {
        // A Redis without the marker lost its data (or was never compared): the whole window is. The marker
        // is set first, so a loss during the pass takes it away again and the next pass is whole too.
        whole = await this.#options.redis.set(this.#markerKey, new Date().toISOString(), 'NX') === 'OK'
        await this.#declareEntities(client, whole ? this.#options.windowMs : this.#options.recentMs)
        for (;;) {
          const { rows: batch } = await client.query<EntityVersion>(`fetch forward ${this.#options.batchSize} from reconcile_entities`)
          repaired += await this.#repairBatch(client, batch)
          if (batch.length < this.#options.batchSize) break
          if (this.#closed) throw new PassCut()
        }
      }
      await client.query('commit')
      return repaired
    } catch (err) {
      await client.query('rollback').catch(() => {})
      // A whole pass that did not finish is owed: the next pass compares the whole window again.
      if (whole) await this.#options.redis.del(this.#markerKey).catch(() => {})
      if (err instanceof PassCut) return 0
      throw err
    } finally {
      client.release()
    }
  }

  /**
   * A cursor over the entities of the window, each with the last version published (its outbox row is no
   * longer pending), which the pass fetches in batches: the window is scanned once (`outbox_created_at_idx`,
   * each row checked against `outbox_pending` by id). Paging with a
   * keyset query instead ran a query per batch, and the planner, misjudging the keyset condition, walked the
   * whole table by entity for every batch after the first.
   */
  async #declareEntities (client: pg.PoolClient, windowMs: number): Promise<void> {
    // A cursor is planned for its first tenth of rows, which favours that same walk; the pass reads every row.
    await client.query('set local cursor_tuple_fraction = 1')
    await client.query(
      `declare reconcile_entities no scroll cursor for
       select o.entity_type as "entityType", o.entity_id as "entityId", max(o.version)::int as version from outbox o
       where o.created_at > now() - make_interval(secs => $1::double precision / 1000) and ${publishedOutboxRow('o')}
       group by o.entity_type, o.entity_id`,
      [windowMs]
    )
  }

  async #repairBatch (client: pg.PoolClient, batch: EntityVersion[]): Promise<number> {
    const versions = await readSnapshotVersions(this.#options.redis, this.#options.layout, batch)
    let repaired = 0
    for (const [i, entity] of batch.entries()) {
      const reason = repairOf(entity.version, versions[i]!)
      if (reason === null) continue
      const published = await this.#republish(client, entity, versions[i]!)
      if (published > 0) {
        repaired++
        this.#options.onRepaired?.(reason, published)
        this.#options.log.info({ entityType: entity.entityType, entityId: entity.entityId, redisVersion: versions[i], outboxVersion: entity.version, republished: published }, `redis ${reason === 'missing' ? 'had lost' : 'was behind on'} an entity; republished from the outbox`)
      }
    }
    return repaired
  }

  /** Publishes the outbox's versions Redis lacks, in order; an entity Redis lost gets its recent history back. */
  async #republish (client: pg.PoolClient, entity: EntityVersion, redisVersion: number): Promise<number> {
    const from = redisVersion > 0 ? redisVersion : Math.max(0, entity.version - this.#options.historyMax)
    const { rows } = await client.query<{ payload: StreamEvent }>(
      `select o.payload from outbox o
       where o.entity_type = $1 and o.entity_id = $2 and o.version > $3 and o.version <= $4 and ${publishedOutboxRow('o')}
       order by o.version`,
      [entity.entityType, entity.entityId, from, entity.version]
    )
    let published = 0
    for (const { payload } of rows) {
      const result = await this.#options.publisher.publish(payload)
      // A gap: a version between is gone from the outbox too (retention); the relay's next publish reports it.
      if (result.status === 'gap') break
      if (result.status === 'published') published++
    }
    return published
  }

  /** Stops the timer and waits for a pass in progress; idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    await this.#task.close()
    await this.#running?.catch(() => {})
  }
}
