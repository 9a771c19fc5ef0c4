// Deletes what the ingest no longer needs: outbox rows published long ago and old webhook-id receipts.
import fp from 'fastify-plugin'
import type pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'

export interface RecordRetentionOptions {
  pool: pg.Pool
  /** Published outbox rows and webhook-id receipts older than this are deleted. */
  retentionMs: number
  log: FastifyBaseLogger
  /** Rows per delete statement: short transactions, no long locks. */
  batchSize?: number
}

const MAX_BATCHES_PER_SWEEP = 100

/**
 * Both tables grow with every request. A published outbox row is needed only while Redis might still
 * ask for it (a gap repair republishes versions lost in the last moments before a Redis crash); a receipt
 * only while a producer may still retry that webhook-id: Standard Webhooks producers retry for a few days,
 * so the default retention is a week. Callbacks, reviews and the entities themselves are the audit trail
 * and are kept. Safe with many ingest replicas: each batch skips rows another replica is deleting.
 */
export class RecordRetention {
  readonly #pool: pg.Pool
  readonly #retentionMs: number
  readonly #log: FastifyBaseLogger
  readonly #batchSize: number

  constructor (options: RecordRetentionOptions) {
    this.#pool = options.pool
    this.#retentionMs = options.retentionMs
    this.#log = options.log
    this.#batchSize = options.batchSize ?? 5000
  }

  /** One pass over both tables; returns how many rows went. */
  async sweep (): Promise<{ outbox: number, receipts: number }> {
    const outbox = await this.#deleteInBatches(`
      delete from outbox where id in (
        select id from outbox
        where published_at is not null and published_at < now() - make_interval(secs => $1::double precision / 1000)
        order by id limit $2 for update skip locked)`)
    const receipts = await this.#deleteInBatches(`
      delete from webhook_receipts where webhook_id in (
        select webhook_id from webhook_receipts
        where received_at < now() - make_interval(secs => $1::double precision / 1000)
        order by received_at limit $2 for update skip locked)`)
    if (outbox + receipts > 0) this.#log.info({ outbox, receipts }, 'deleted records past their retention')
    return { outbox, receipts }
  }

  async #deleteInBatches (statement: string): Promise<number> {
    let total = 0
    for (let batch = 0; batch < MAX_BATCHES_PER_SWEEP; batch++) {
      const { rowCount } = await this.#pool.query(statement, [this.#retentionMs, this.#batchSize])
      total += rowCount ?? 0
      if ((rowCount ?? 0) < this.#batchSize) break
    }
    return total
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    recordRetention: RecordRetention
  }
}

export default fp<{ retentionMs: number, intervalMs: number }>(async (fastify, opts) => {
  const log = fastify.log.child({ component: 'record-retention' })
  const retention = new RecordRetention({ pool: fastify.pgPool, retentionMs: opts.retentionMs, log })
  fastify.decorate('recordRetention', retention)
  let running: Promise<unknown> | undefined
  const timer = setInterval(() => {
    if (running !== undefined) return
    running = retention.sweep()
      .catch((err: unknown) => log.warn({ err }, 'deleting old records failed; the next sweep retries'))
      .finally(() => { running = undefined })
  }, opts.intervalMs)
  timer.unref()
  fastify.addHook('preClose', async () => {
    clearInterval(timer)
    await running
  })
}, { name: 'herald-record-retention', dependencies: ['herald-database'] })
