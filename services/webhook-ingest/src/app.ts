// webhook-ingest as a Fastify plugin: no listen here (see server.ts), so tests build it with inject.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { commaList, databasePlugin, redisPlugin, registerServiceBasics } from '@herald/service-kit'
import type { IngestConfig } from './config.js'
import { StandardWebhookVerifier } from './auth/standard-webhooks.js'
import ingestMetricsPlugin from './plugins/ingest-metrics.js'
import outboxRelayPlugin from './plugins/outbox-relay.js'
import outboxReconcilerPlugin from './plugins/outbox-reconciler.js'
import unitOfWorkPlugin from './plugins/unit-of-work.js'
import recordRetentionPlugin from './plugins/record-retention.js'
import backendDeliveriesPlugin from './plugins/backend-deliveries.js'
import { backendEndpointsOf, backendEventTypesOf } from './deliveries/backend-endpoints.js'
import { parseRetrySchedule } from './deliveries/schedule.js'
import webhookRoutes from './routes/webhooks/index.js'
import orderRoutes from './routes/orders/index.js'
import registrationRoutes from './routes/registrations/index.js'
import deliveryRoutes from './routes/deliveries/index.js'
import eventRoutes from './routes/events/index.js'

export interface IngestAppOptions {
  config: IngestConfig
  /** Postgres schema to use instead of `public` (tests). */
  databaseSchema?: string
  /**
   * False commits events to the outbox but never publishes them (no immediate publish, no sweep):
   * tests use it to stand for a process that died between commit and publish.
   */
  publishing?: boolean
  /** Back-end delivery knobs for tests: a short lease, or a process that never sends (false). */
  deliveries?: { leaseMs?: number, delivering?: boolean }
}

declare module 'fastify' {
  interface FastifyInstance {
    config: IngestConfig
    standardWebhookVerifier: StandardWebhookVerifier
  }
}

async function ingestApp (fastify: FastifyInstance, opts: IngestAppOptions): Promise<void> {
  const { config } = opts
  fastify.decorate('config', config)
  fastify.decorate('standardWebhookVerifier', new StandardWebhookVerifier(commaList(config.INTERNAL_WEBHOOK_SECRETS)))
  await registerServiceBasics(fastify, {
    service: 'webhook-ingest',
    namespace: 'herald_ingest',
    packageJson: new URL('../package.json', import.meta.url),
    api: { title: 'Herald webhook-ingest', description: 'Verified, idempotent intake of payment callbacks and registration events.' },
    config,
    // Past its event-loop or memory limits the ingest answers 503 with Retry-After: providers retry.
    refuseUnderPressure: 'all'
  })
  await fastify.register(databasePlugin, { url: config.DATABASE_URL, schema: opts.databaseSchema, max: config.PG_POOL_MAX, applicationName: 'herald-webhook-ingest' })
  // Redis down, callbacks still go into the outbox and reach the streams later: the ingest stays in its
  // Service (200 `degraded`) instead of turning providers away. Postgres is required.
  await fastify.register(redisPlugin, {
    requiredForReadiness: false,
    url: config.REDIS_URL,
    clusterNodes: config.REDIS_CLUSTER_NODES,
    prefix: config.HERALD_REDIS_PREFIX,
    shards: config.HERALD_STREAM_SHARDS,
    connectionName: 'herald-ingest'
  })
  await fastify.register(ingestMetricsPlugin)
  await fastify.register(outboxRelayPlugin, {
    sweepIntervalMs: config.OUTBOX_SWEEP_INTERVAL_MS,
    retentionMs: config.HERALD_STREAM_RETENTION_MS,
    database: { url: config.DATABASE_URL, schema: opts.databaseSchema },
    publishing: opts.publishing
  })
  await fastify.register(outboxReconcilerPlugin, {
    intervalMs: opts.publishing === false ? 0 : config.OUTBOX_RECONCILE_INTERVAL_MS,
    windowMs: config.OUTBOX_RECONCILE_WINDOW_MS,
    retentionMs: config.HERALD_STREAM_RETENTION_MS,
    database: { url: config.DATABASE_URL, schema: opts.databaseSchema }
  })
  await fastify.register(unitOfWorkPlugin, { batchMax: config.INGEST_BATCH_MAX, batchesInFlight: config.INGEST_BATCHES_IN_FLIGHT })
  const backendEndpoints = backendEndpointsOf(config.BACKEND_WEBHOOK_URLS)
  await fastify.register(backendDeliveriesPlugin, {
    database: { url: config.DATABASE_URL, schema: opts.databaseSchema },
    endpoints: backendEndpoints,
    secrets: commaList(config.BACKEND_WEBHOOK_SECRET),
    eventTypes: backendEventTypesOf(config.BACKEND_WEBHOOK_EVENTS),
    retryScheduleMs: parseRetrySchedule(config.BACKEND_WEBHOOK_RETRY_MS),
    pollMs: config.OUTBOX_SWEEP_INTERVAL_MS,
    leaseMs: opts.deliveries?.leaseMs,
    delivering: opts.deliveries?.delivering
  })
  await fastify.register(recordRetentionPlugin, {
    retentionMs: config.HERALD_RECORD_RETENTION_MS,
    deliveryEndpointIds: backendEndpoints.map((endpoint) => endpoint.id),
    intervalMs: Math.min(10 * 60_000, config.HERALD_RECORD_RETENTION_MS / 6)
  })
  for (const routes of [webhookRoutes, orderRoutes, registrationRoutes, deliveryRoutes, eventRoutes]) await fastify.register(routes)
}

export default fp(ingestApp, { name: 'herald-webhook-ingest' })
