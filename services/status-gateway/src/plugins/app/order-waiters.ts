// Wires the long-poll waiters into the app, with degraded mode: without Redis, held long-polls re-check Postgres.
import fp from 'fastify-plugin'
import { PeriodicTask } from '@herald/service-kit'
import { OrderWaiters } from '../../long-poll/order-waiters.js'
import { DeliverySpans } from '../../activity/delivery-spans.js'

declare module 'fastify' {
  interface FastifyInstance {
    orderWaiters: OrderWaiters
  }
}

export default fp(async (fastify) => {
  const log = fastify.log.child({ component: 'order-waiters' })
  const waiters = new OrderWaiters({
    metrics: fastify.gatewayMetrics,
    readCurrent: (orderId) => fastify.statusStore.readOrderChecked(orderId),
    spans: new DeliverySpans(fastify.tracer),
    log
  })
  fastify.decorate('orderWaiters', waiters)

  // Degraded mode: with Redis down no event arrives, so held long-polls re-check Postgres, in one query.
  const recheck = new PeriodicTask({
    name: 'degraded-mode re-check of held long-polls',
    intervalMs: fastify.config.LONGPOLL_DB_RECHECK_MS,
    log,
    run: async () => {
      if (waiters.size === 0 || fastify.redis.status === 'ready') return
      const orders = await fastify.statusStore.readOrdersFromDatabase(waiters.orderIds().slice(0, 1000))
      for (const order of orders) waiters.notify(order)
    }
  })
  recheck.start()

  fastify.addHook('preClose', async () => {
    // Held long-polls are answered at once, not after a re-check in flight.
    const stopping = recheck.close()
    waiters.answerAll()
    await stopping
  })
}, { name: 'gateway-order-waiters', dependencies: ['gateway-metrics', 'gateway-status-store'] })
