// status-gateway as a Fastify plugin: no listen here (see server.ts), so tests build it with inject.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import cors from '@fastify/cors'
import { commaList, databasePlugin, redisPlugin, registerServiceBasics } from '@herald/service-kit'
import type { GatewayConfig } from './config.js'
import accessPlugin from './plugins/app/access.js'
import clientHoldsPlugin from './plugins/app/client-holds.js'
import rateLimitPlugin from './plugins/app/rate-limit.js'
import gatewayMetricsPlugin from './plugins/app/gateway-metrics.js'
import deliveryActivityPlugin from './plugins/app/delivery-activity.js'
import statusStorePlugin from './plugins/app/status-store.js'
import orderWaitersPlugin from './plugins/app/order-waiters.js'
import streamFanoutPlugin from './plugins/app/stream-fanout.js'
import streamConsumersPlugin from './plugins/app/stream-consumers.js'
import orderRoutes from './routes/orders/index.js'
import registrationRoutes from './routes/registrations/index.js'
import statsRoutes from './routes/stats/index.js'
import dashboardRoutes from './routes/dashboard/index.js'

export interface GatewayAppOptions {
  config: GatewayConfig
  /** Postgres schema to use instead of `public` (tests). */
  databaseSchema?: string
}

declare module 'fastify' {
  interface FastifyInstance {
    config: GatewayConfig
  }
}

async function gatewayApp (fastify: FastifyInstance, opts: GatewayAppOptions): Promise<void> {
  const { config } = opts
  fastify.decorate('config', config)
  await registerServiceBasics(fastify, {
    service: 'status-gateway',
    namespace: 'herald_gateway',
    packageJson: new URL('../package.json', import.meta.url),
    api: { title: 'Herald status-gateway', description: 'Long-poll and SSE delivery of payment and registration status.' },
    config,
    // Held responses: observed as holds, apart from request durations.
    holdRoutes: ['/api/orders/:orderId/wait', '/api/orders/:orderId/events', '/api/orders/updates/stream', '/api/registrations/updates/stream'],
    // Under pressure the gateway keeps serving the holds it has and refuses new ones (see holdSlots).
    refuseUnderPressure: 'none'
  })
  // Either dependency alone keeps the gateway useful (Redis: everything; Postgres: long-polls and snapshots
  // in degraded mode), so /readyz turns 503 only when both are down: a Redis outage must not take every
  // gateway out of the Service and turn degraded answers into none.
  await fastify.register(databasePlugin, { url: config.DATABASE_URL, schema: opts.databaseSchema, max: config.PG_POOL_MAX, applicationName: 'herald-status-gateway', requiredForReadiness: false })
  await fastify.register(redisPlugin, {
    requiredForReadiness: false,
    url: config.REDIS_URL,
    clusterNodes: config.REDIS_CLUSTER_NODES,
    prefix: config.HERALD_REDIS_PREFIX,
    shards: config.HERALD_STREAM_SHARDS,
    connectionName: `herald-gateway-${config.HERALD_INSTANCE_ID}`
  })
  const origins = commaList(config.GATEWAY_CORS_ORIGINS)
  if (origins.length > 0) {
    await fastify.register(cors, {
      origin: origins,
      methods: ['GET'],
      allowedHeaders: ['Authorization', 'Last-Event-ID', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id'],
      maxAge: 600
    })
  }
  await fastify.register(rateLimitPlugin)
  await fastify.register(accessPlugin)
  await fastify.register(gatewayMetricsPlugin)
  await fastify.register(deliveryActivityPlugin)
  await fastify.register(clientHoldsPlugin)
  await fastify.register(statusStorePlugin)
  await fastify.register(orderWaitersPlugin)
  await fastify.register(streamFanoutPlugin)
  await fastify.register(streamConsumersPlugin)
  for (const routes of [orderRoutes, registrationRoutes, statsRoutes, dashboardRoutes]) await fastify.register(routes)
}

export default fp(gatewayApp, { name: 'herald-status-gateway' })
