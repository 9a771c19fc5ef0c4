// One stream consumer per shard for this replica, the replica heartbeat, and per-group lag metrics.
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import type { StreamEvent } from '@herald/contracts'
import { createRedisClient, readGroups } from '@herald/streams'
import { StreamConsumer } from '../../streams/stream-consumer.js'
import { GatewayInstances, groupNameOf } from '../../streams/gateway-instances.js'

export interface StreamConsumers {
  readonly group: string
  readonly consumers: readonly StreamConsumer[]
  readonly instances: GatewayInstances
  /** True when every shard's reader is connected. */
  readonly connected: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    streamConsumers: StreamConsumers
  }
}

export default fp(async (fastify) => {
  const { config, streamLayout: layout, redisOptions } = fastify
  // Each class names its own `component`: a child of a child would repeat the key in every line.
  const log = fastify.log
  const group = groupNameOf(config.HERALD_INSTANCE_ID)

  const streamEvents = fastify.gatewayMetrics.streamEvents
  const dispatch = (event: StreamEvent): void => {
    streamEvents.inc({ entity_type: event.entityType })
    if (event.entityType === 'order') fastify.orderWaiters.notify(event.order, event)
    fastify.streamFanout.publish(event)
  }

  const consumers = layout.streamKeys().map((streamKey, shard) => new StreamConsumer({
    shard,
    streamKey,
    group,
    consumer: config.HERALD_INSTANCE_ID,
    // Its own connection per shard: a blocked XREADGROUP holds the connection it runs on.
    connect: () => createRedisClient({
      url: redisOptions.url,
      clusterNodes: redisOptions.clusterNodes,
      connectionName: `${redisOptions.connectionName}-reader-s${shard}`,
      maxRetriesPerRequest: null,
      enableOfflineQueue: false
    }),
    blockMs: config.GATEWAY_READ_BLOCK_MS,
    count: config.GATEWAY_READ_COUNT,
    dispatch,
    log
  }))

  const instances = new GatewayInstances({
    redis: fastify.redis,
    layout,
    instanceId: config.HERALD_INSTANCE_ID,
    heartbeatMs: config.GATEWAY_HEARTBEAT_MS,
    idleMs: config.GATEWAY_GROUP_IDLE_MS,
    log
  })

  fastify.decorate<StreamConsumers>('streamConsumers', {
    group,
    consumers,
    instances,
    get connected () { return consumers.every((consumer) => consumer.connected) }
  })

  // Read on scrape, so the numbers are current and cost nothing between scrapes.
  const lagLabels = ['shard', 'group'] as const
  const streamPending = new Gauge({
    name: 'herald_gateway_stream_pending',
    help: 'Entries delivered to a consumer group and not yet acknowledged (XINFO GROUPS pending).',
    labelNames: lagLabels,
    registers: [fastify.metricsRegistry]
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'herald_gateway_stream_consumers_reading',
    help: 'Shard consumers of this replica connected and reading (0: it delivers nothing live).',
    registers: [fastify.metricsRegistry],
    collect () { this.set(consumers.filter((consumer) => consumer.connected).length) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'herald_gateway_stream_lag',
    help: 'Entries of a shard stream not yet delivered to a consumer group (XINFO GROUPS lag).',
    labelNames: lagLabels,
    registers: [fastify.metricsRegistry],
    async collect () {
      this.reset()
      streamPending.reset()
      if (fastify.redis.status !== 'ready') return
      for (const [shard, streamKey] of layout.streamKeys().entries()) {
        const groups = await readGroups(fastify.redis, streamKey).catch(() => [])
        for (const info of groups) {
          const labels = { shard: String(shard), group: info.name }
          streamPending.set(labels, info.pending)
          // Redis answers nil lag when it cannot tell (after deletions); leave the series out then.
          if (info.lag !== null) this.set(labels, info.lag)
        }
      }
    }
  })

  fastify.addHook('onReady', async () => {
    await instances.start()
    for (const consumer of consumers) consumer.start()
    // Ready means reading: wait (a little, Redis may be down) until every group exists.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(consumers.map((consumer) => consumer.reading)),
      new Promise((resolve) => { timer = setTimeout(resolve, 2000) })
    ])
    clearTimeout(timer)
  })

  fastify.addHook('preClose', async () => {
    await Promise.all(consumers.map((consumer) => consumer.close()))
    await instances.close()
  })
}, { name: 'gateway-stream-consumers', dependencies: ['gateway-metrics', 'gateway-order-waiters', 'gateway-stream-fanout', 'herald-redis', 'herald-metrics'] })
