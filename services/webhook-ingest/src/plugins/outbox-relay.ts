// The outbox relay as a plugin: one EventPublisher on the service's Redis, swept on a timer, stopped on close.
import fp from 'fastify-plugin'
import { EventPublisher } from '@herald/streams'
import { OutboxRelay } from '../outbox/relay.js'

export interface OutboxRelayPluginOptions {
  sweepIntervalMs: number
  retentionMs: number
  /** False builds the relay without starting it or publishing after commit (tests of a crash before publish). */
  publishing?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    outboxRelay: OutboxRelay
  }
}

export default fp<OutboxRelayPluginOptions>(async (fastify, opts) => {
  const redis = fastify.redis
  const publishing = opts.publishing ?? true
  const relay = new OutboxRelay({
    pool: fastify.pgPool,
    publisher: new EventPublisher(redis, fastify.streamLayout, { retentionMs: opts.retentionMs }),
    isRedisReady: () => publishing && redis.status === 'ready',
    log: fastify.log.child({ component: 'outbox-relay' }),
    sweepIntervalMs: opts.sweepIntervalMs,
    onPublished: (path, seconds) => fastify.ingestMetrics.publishLatency.observe({ path }, seconds)
  })
  fastify.decorate('outboxRelay', relay)
  fastify.addHook('onReady', async () => { if (publishing) relay.start() })
  // preClose: stop before the Redis and Postgres plugins close their connections in onClose.
  fastify.addHook('preClose', async () => relay.close())
}, { name: 'herald-outbox-relay', dependencies: ['herald-redis', 'herald-database', 'herald-ingest-metrics'] })
