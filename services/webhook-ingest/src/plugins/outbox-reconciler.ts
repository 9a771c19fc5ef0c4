// The reconciler as a plugin: its own Postgres connection, a publisher on the service's Redis, a repair metric.
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { createDatabase } from '@herald/db'
import { EventPublisher } from '@herald/streams'
import { OutboxReconciler } from '../outbox/reconciler.js'

export interface OutboxReconcilerPluginOptions {
  /** 0 turns the reconciler off. */
  intervalMs: number
  windowMs: number
  retentionMs: number
  database: { url: string, schema?: string }
}

declare module 'fastify' {
  interface FastifyInstance {
    outboxReconciler: OutboxReconciler
  }
}

export default fp<OutboxReconcilerPluginOptions>(async (fastify, opts) => {
  const redis = fastify.redis
  const database = createDatabase({
    url: opts.database.url,
    schema: opts.database.schema,
    max: 1,
    connectionTimeoutMillis: 2000,
    applicationName: 'herald-outbox-reconciler'
  })
  const registers = [fastify.metricsRegistry]
  const repaired = new Counter({
    name: 'herald_reconciler_repairs_total',
    help: 'Entities whose Redis snapshot was missing or older than the outbox, republished from the outbox, by reason.',
    labelNames: ['reason'],
    registers
  })
  const republished = new Counter({
    name: 'herald_reconciler_republished_events_total',
    help: 'Events the reconciler put back on the streams.',
    registers
  })
  const reconciler = new OutboxReconciler({
    pool: database.pool,
    redis,
    layout: fastify.streamLayout,
    publisher: new EventPublisher(redis, fastify.streamLayout, { retentionMs: opts.retentionMs }),
    isRedisReady: () => redis.status === 'ready',
    log: fastify.log.child({ component: 'outbox-reconciler' }),
    intervalMs: opts.intervalMs,
    windowMs: opts.windowMs,
    onRepaired: (reason, events) => {
      repaired.inc({ reason })
      republished.inc(events)
    }
  })
  fastify.decorate('outboxReconciler', reconciler)
  fastify.addHook('onReady', async () => { if (opts.intervalMs > 0) reconciler.start() })
  fastify.addHook('preClose', async () => {
    await reconciler.close()
    await database.close()
  })
}, { name: 'herald-outbox-reconciler', dependencies: ['herald-redis', 'herald-metrics'] })
