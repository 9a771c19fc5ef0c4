// The dashboard's charts: this replica's events per second and delivery latency, sampled from its metrics.
import fp from 'fastify-plugin'
import { DeliveryActivity } from '../../activity/delivery-activity.js'

declare module 'fastify' {
  interface FastifyInstance {
    deliveryActivity: DeliveryActivity
  }
}

export default fp(async (fastify) => {
  const { streamEvents, deliveryLatency } = fastify.gatewayMetrics
  const log = fastify.log.child({ component: 'delivery-activity' })
  const activity = new DeliveryActivity({ events: streamEvents, latency: deliveryLatency, log })
  fastify.decorate('deliveryActivity', activity)
  fastify.addHook('onReady', async () => { await activity.start() })
  fastify.addHook('onClose', async () => { await activity.close() })
}, { name: 'gateway-delivery-activity', dependencies: ['gateway-metrics'] })
