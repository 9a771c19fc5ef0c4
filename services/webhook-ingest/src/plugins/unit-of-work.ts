// The group commit as a plugin: one per process, on the requests' pool, handing what commits to the relay.
import fp from 'fastify-plugin'
import { Counter, Histogram } from 'prom-client'
import { GroupCommit } from '../unit-of-work/group-commit.js'

export interface UnitOfWorkPluginOptions {
  /** Most writes per transaction (`INGEST_BATCH_MAX`). */
  batchMax: number
  /** Most transactions in flight (`INGEST_BATCHES_IN_FLIGHT`). */
  batchesInFlight: number
}

declare module 'fastify' {
  interface FastifyInstance {
    unitOfWork: GroupCommit
  }
}

export default fp<UnitOfWorkPluginOptions>(async (fastify, opts) => {
  const registers = [fastify.metricsRegistry]
  const batchSize = new Histogram({
    name: 'herald_ingest_batch_size',
    help: 'Writes (callbacks, events, upserts) per group-commit transaction.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers
  })
  const commits = new Counter({
    name: 'herald_ingest_commits_total',
    help: 'Group-commit transactions begun (rate() of it: commits per second).',
    registers
  })
  const joinWait = new Histogram({
    name: 'herald_ingest_batch_wait_seconds',
    help: 'Time a write waited for its batch to begin (queued behind the batches in flight).',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers
  })
  const relay = fastify.outboxRelay
  const unitOfWork = new GroupCommit({
    pool: fastify.pgPool,
    batchMax: opts.batchMax,
    batchesInFlight: opts.batchesInFlight,
    onCommitted: (committed) => relay.publishCommitted(...committed),
    onBatch: ({ size, waitedSeconds }) => {
      commits.inc()
      batchSize.observe(size)
      for (const seconds of waitedSeconds) joinWait.observe(seconds)
    }
  })
  fastify.decorate('unitOfWork', unitOfWork)
  // Before the relay and the pool close: batches in flight still answer and hand over their events.
  fastify.addHook('preClose', async () => { await unitOfWork.drain() })
}, { name: 'herald-unit-of-work', dependencies: ['herald-database', 'herald-metrics', 'herald-outbox-relay'] })
