// The outbox relay as a plugin: one EventPublisher on the service's Redis, swept on a timer, stopped on close.
import fp from 'fastify-plugin'
import { createDatabase } from '@herald/db'
import { EventPublisher } from '@herald/streams'
import { OutboxRelay } from '../outbox/relay.js'

export interface OutboxRelayPluginOptions {
  sweepIntervalMs: number
  retentionMs: number
  /** The relay's own connections: the requests' pool is often saturated, and publishing must not wait on it. */
  database: { url: string, schema?: string }
  /** False builds the relay without starting it or publishing after commit (tests of a crash before publish). */
  publishing?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    outboxRelay: OutboxRelay
  }
}

/** One connection for the sweep's transaction, one for marking rows published while it runs. */
const RELAY_POOL_MAX = 2

export default fp<OutboxRelayPluginOptions>(async (fastify, opts) => {
  const redis = fastify.redis
  const publishing = opts.publishing ?? true
  const database = createDatabase({
    url: opts.database.url,
    schema: opts.database.schema,
    max: RELAY_POOL_MAX,
    connectionTimeoutMillis: 2000,
    applicationName: 'herald-outbox-relay',
    // The relay writes only published marks: a mark lost in a crash publishes its row again, a duplicate
    // the stream ignores. Not waiting for their WAL flush halves the flushes per commit under load.
    asynchronousCommit: true
  })
  const relay = new OutboxRelay({
    pool: database.pool,
    publisher: new EventPublisher(redis, fastify.streamLayout, { retentionMs: opts.retentionMs }),
    isRedisReady: () => publishing && redis.status === 'ready',
    log: fastify.log.child({ component: 'outbox-relay' }),
    sweepIntervalMs: opts.sweepIntervalMs,
    onPublished: (path, seconds) => fastify.ingestMetrics.publishLatency.observe({ path }, seconds)
  })
  fastify.decorate('outboxRelay', relay)
  fastify.addHook('onReady', async () => { if (publishing) relay.start() })
  // preClose: stop before the Redis plugin closes its connection in onClose.
  fastify.addHook('preClose', async () => {
    await relay.close()
    await database.close()
  })
}, { name: 'herald-outbox-relay', dependencies: ['herald-redis', 'herald-database', 'herald-ingest-metrics'] })
