// Wires the long-poll waiters into the app, with degraded mode: without Redis, held long-polls re-check Postgres.
import fp from 'fastify-plugin'
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
  let checking = false
  const recheck = setInterval(() => {
    if (checking || waiters.size === 0 || fastify.redis.status === 'ready') return
    checking = true
    fastify.statusStore.readOrdersFromDatabase(waiters.orderIds().slice(0, 1000))
      .then((orders) => { for (const order of orders) waiters.notify(order) })
      .catch((err: unknown) => log.warn({ err }, 'degraded-mode re-check of held long-polls failed'))
      .finally(() => { checking = false })
  }, fastify.config.LONGPOLL_DB_RECHECK_MS)
  recheck.unref()

  fastify.addHook('preClose', async () => {
    clearInterval(recheck)
    waiters.answerAll()
  })
}, { name: 'gateway-order-waiters', dependencies: ['gateway-metrics', 'gateway-status-store'] })
