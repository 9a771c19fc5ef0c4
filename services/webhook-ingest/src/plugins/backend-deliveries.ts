// Back-end deliveries as a plugin: its own small pool, per-endpoint metrics, started on ready, stopped on close.
import fp from 'fastify-plugin'
import { Counter, Gauge } from 'prom-client'
import { createDatabase } from '@herald/db'
import type { BackendEndpointHealth } from '@herald/contracts'
import { BackendDeliveries, type BackendDeliveriesOptions } from '../deliveries/backend-deliveries.js'

export interface BackendDeliveriesPluginOptions extends Pick<BackendDeliveriesOptions, 'endpoints' | 'secrets' | 'eventTypes' | 'retryScheduleMs' | 'pollMs' | 'leaseMs'> {
  database: { url: string, schema?: string }
  /** False builds everything but sends nothing (tests of a process that dies with deliveries pending). */
  delivering?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    backendDeliveries: BackendDeliveries
  }
}

export default fp<BackendDeliveriesPluginOptions>(async (fastify, opts) => {
  const registers = [fastify.metricsRegistry]
  const attempts = new Counter({
    name: 'herald_ingest_backend_delivery_attempts_total',
    help: 'Outbound back-end webhook attempts, by endpoint and result (delivered, failed).',
    labelNames: ['endpoint', 'result'],
    registers
  })
  const deadLetters = new Counter({
    name: 'herald_ingest_backend_dead_letters_total',
    help: 'Events moved aside after their last failed attempt, by endpoint.',
    labelNames: ['endpoint'],
    registers
  })
  // One small pool: deliveries never hold a connection while waiting on a receiver.
  const database = createDatabase({
    url: opts.database.url,
    schema: opts.database.schema,
    max: Math.min(opts.endpoints.length + 2, 10),
    connectionTimeoutMillis: 2000,
    applicationName: 'herald-backend-deliveries'
  })
  const deliveries = new BackendDeliveries({
    pool: database.pool,
    endpoints: opts.endpoints,
    secrets: opts.secrets,
    eventTypes: opts.eventTypes,
    retryScheduleMs: opts.retryScheduleMs,
    pollMs: opts.pollMs,
    leaseMs: opts.leaseMs,
    tracer: fastify.tracer,
    log: fastify.log.child({ component: 'backend-deliveries' }),
    onAttempt: (endpoint, result) => attempts.inc({ endpoint, result: result.ok ? 'delivered' : 'failed' }),
    onDeadLetter: (endpoint) => deadLetters.inc({ endpoint })
  })
  fastify.decorate('backendDeliveries', deliveries)

  // Read at scrape time from Postgres, so every replica reports the shared state; one query per scrape.
  let scrape: Promise<BackendEndpointHealth[]> | undefined
  const health = () => {
    scrape ??= deliveries.health().finally(() => setTimeout(() => { scrape = undefined }, 500).unref())
    return scrape
  }
  const gauge = (name: string, help: string, value: (h: BackendEndpointHealth) => number) => new Gauge({
    name,
    help,
    labelNames: ['endpoint'],
    registers,
    async collect () {
      this.reset()
      // Postgres unreachable: left out (herald_ingest_database_up says so), never a made-up number.
      const endpoints = await health().catch(() => [])
      for (const endpoint of endpoints) this.set({ endpoint: endpoint.endpointId }, value(endpoint))
    }
  })
  if (opts.endpoints.length > 0) {
    gauge('herald_ingest_backend_undelivered', 'Committed events an endpoint has not taken yet (absent when Postgres is unreachable).', (h) => h.undelivered)
    gauge('herald_ingest_backend_oldest_undelivered_age_seconds', 'Age of the oldest event an endpoint has not taken yet (0 when none).', (h) => h.oldestUndeliveredAgeSeconds ?? 0)
  }

  fastify.addHook('onReady', async () => {
    await deliveries.register()
    if (opts.delivering ?? true) await deliveries.start()
  })
  fastify.addHook('preClose', async () => {
    await deliveries.close()
    await database.close()
  })
}, { name: 'herald-backend-deliveries', dependencies: ['herald-metrics', 'herald-tracing'] })
