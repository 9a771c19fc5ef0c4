// Deletes what the ingest no longer needs: old published outbox rows and old webhook-id receipts.
import fp from 'fastify-plugin'
import type pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import { PeriodicTask } from '@herald/service-kit'
import { publishedOutboxRow } from '../outbox/relay.js'

export interface RecordRetentionOptions {
  pool: pg.Pool
  /** Published outbox rows written, and webhook-id receipts received, longer ago than this are deleted. */
  retentionMs: number
  /** Back-end endpoints in configuration: outbox rows one of them has not taken yet are kept. */
  deliveryEndpointIds?: readonly string[]
  log: FastifyBaseLogger
  /** Rows per delete statement: short transactions, no long locks. */
  batchSize?: number
}

const MAX_BATCHES_PER_SWEEP = 100

/**
 * Both tables grow with every request. A published outbox row is needed only while Redis might still
 * ask for it (a gap repair republishes versions lost in the last moments before a Redis crash): its age is
 * counted from its commit, and a row still pending is kept whatever its age; a receipt
 * only while a producer may still retry that webhook-id: Standard Webhooks producers retry for a few days,
 * so the default retention is a week. Callbacks, reviews and the entities themselves are the audit trail
 * and are kept. Safe with many ingest replicas: each batch skips rows another replica is deleting.
 */
export class RecordRetention {
  readonly #pool: pg.Pool
  readonly #retentionMs: number
  readonly #log: FastifyBaseLogger
  readonly #batchSize: number
  readonly #endpointIds: readonly string[]

  constructor (options: RecordRetentionOptions) {
    this.#pool = options.pool
    this.#endpointIds = options.deliveryEndpointIds ?? []
    this.#retentionMs = options.retentionMs
    this.#log = options.log
    this.#batchSize = options.batchSize ?? 5000
  }

  /** One pass over both tables; returns how many rows went. */
  async sweep (): Promise<{ outbox: number, receipts: number }> {
    // Kept too: rows a configured back-end endpoint has not taken (after its cursor, or in its retries).
    // The highest id deleted is recorded: the pull feed answers 410 for a cursor before it.
    const outbox = await this.#deleteInBatches(`
      with deleted as (
        delete from outbox where id in (
          select o.id from outbox o
          where o.created_at < now() - make_interval(secs => $1::double precision / 1000)
            and ${publishedOutboxRow('o')}
            and o.id <= (select coalesce(min(position), 9223372036854775807) from delivery_cursors where endpoint_id = any($3::text[]))
            and not exists (select 1 from delivery_retries r where r.endpoint_id = any($3::text[]) and r.outbox_id = o.id)
          order by o.id limit $2 for update skip locked)
        returning id
      ),
      marked as (
        insert into outbox_retention (id, deleted_through) select 1, max(id) from deleted having count(*) > 0
        on conflict (id) do update set deleted_through = greatest(outbox_retention.deleted_through, excluded.deleted_through)
      )
      select count(*)::int as n from deleted`)
    const receipts = await this.#deleteInBatches(`
      delete from webhook_receipts where webhook_id in (
        select webhook_id from webhook_receipts
        where received_at < now() - make_interval(secs => $1::double precision / 1000) and $3::text[] is not null
        order by received_at limit $2 for update skip locked)`)
    if (outbox + receipts > 0) this.#log.info({ outbox, receipts }, 'deleted records past their retention')
    return { outbox, receipts }
  }

  async #deleteInBatches (statement: string): Promise<number> {
    let total = 0
    for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
      const result = await this.#pool.query<{ n?: number }>(statement, [this.#retentionMs, this.#batchSize, this.#endpointIds])
      const deleted = result.command === 'SELECT' ? result.rows[0]?.n ?? 0 : result.rowCount ?? 0
      total += deleted
      if (deleted < this.#batchSize) break
    }
    return total
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    recordRetention: RecordRetention
  }
}

export default fp<{ retentionMs: number, intervalMs: number, deliveryEndpointIds?: readonly string[] }>(async (fastify, opts) => {
  const log = fastify.log.child({ component: 'record-retention' })
  const retention = new RecordRetention({ pool: fastify.pgPool, retentionMs: opts.retentionMs, deliveryEndpointIds: opts.deliveryEndpointIds, log })
  fastify.decorate('recordRetention', retention)
  const sweeps = new PeriodicTask({ name: 'deleting old records', intervalMs: opts.intervalMs, log, run: () => retention.sweep() })
  sweeps.start()
  fastify.addHook('preClose', async () => { await sweeps.close() })
}, { name: 'herald-record-retention', dependencies: ['herald-database'] })
