// Wires the SSE fan-out into the app, and the policy on losing Redis: a blip keeps the streams, an outage ends them.
import fp from 'fastify-plugin'
import { StreamFanout } from '../../sse/fanout.js'
import { DeliverySpans } from '../../activity/delivery-spans.js'

declare module 'fastify' {
  interface FastifyInstance {
    streamFanout: StreamFanout
  }
}

/** With Redis gone this long, open streams are ended so clients go to a replica that can serve them. */
const REDIS_LOSS_GRACE_MS = 1000

export default fp(async (fastify) => {
  const { config } = fastify
  const fanout = new StreamFanout({
    metrics: fastify.gatewayMetrics,
    spans: new DeliverySpans(fastify.tracer),
    pingIntervalMs: config.SSE_PING_INTERVAL_MS,
    maxBufferBytes: config.SSE_MAX_BUFFER_BYTES,
    retryMs: config.SSE_RETRY_MS,
    redisReady: () => fastify.redis.status === 'ready',
    holdSlots: fastify.holdSlots,
    log: fastify.log.child({ component: 'stream-fanout' })
  })
  fastify.decorate('streamFanout', fanout)

  let lossTimer: NodeJS.Timeout | undefined
  const onRedisClose = () => {
    if (lossTimer !== undefined) return
    lossTimer = setTimeout(() => {
      lossTimer = undefined
      if (fastify.redis.status !== 'ready') fanout.closeAll('redis_unavailable')
    }, REDIS_LOSS_GRACE_MS)
    lossTimer.unref()
  }
  fastify.redis.on('close', onRedisClose)

  fastify.addHook('preClose', async () => {
    fastify.redis.off('close', onRedisClose)
    clearTimeout(lossTimer)
    fanout.stop()
    fanout.closeAll('shutdown')
  })
}, { name: 'gateway-stream-fanout', dependencies: ['gateway-metrics', 'gateway-client-holds', 'herald-redis'] })
