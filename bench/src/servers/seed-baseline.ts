// The seed's design, as its documents describe it, for scenario 4: every waiting client gets its own
// Redis connection SUBSCRIBEd to `order:<id>`, and a callback PUBLISHes there. Nothing is stored, so a
// message sent while nobody listens is lost (the design's known flaw; the bench subscribes first).
import Fastify from 'fastify'
import { Redis } from 'ioredis'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const channelPrefix = process.env.BASELINE_CHANNEL_PREFIX ?? 'seed'
const connectionName = process.env.BASELINE_CONNECTION_NAME ?? 'seed-baseline'
const port = Number(process.env.PORT ?? 3003)

const fastify = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' }, connectionTimeout: 0, keepAliveTimeout: 65_000 })
const publisher = new Redis(redisUrl, { connectionName: `${connectionName}-publisher` })
let subscribed = 0

const orderParams = {
  type: 'object',
  properties: { orderId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' } },
  required: ['orderId']
} as const

fastify.get<{ Params: { orderId: string }, Querystring: { timeout?: number } }>('/wait/:orderId', {
  schema: { params: orderParams, querystring: { type: 'object', properties: { timeout: { type: 'integer', minimum: 0, maximum: 120_000 } } } }
}, async (request, reply) => {
  const channel = `${channelPrefix}:order:${request.params.orderId}`
  const subscriber = new Redis(redisUrl, { connectionName: `${connectionName}-subscriber` })
  subscriber.on('error', (err) => request.log.warn({ err }, 'subscriber error'))
  return await new Promise((resolve) => {
    let done = false
    let counted = false
    const finish = (body: Record<string, unknown>): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (counted) subscribed--
      subscriber.disconnect()
      resolve(body)
    }
    const timer = setTimeout(() => finish({ success: true, orderId: request.params.orderId, timedOut: true }), request.query.timeout ?? 60_000)
    subscriber.on('message', (_channel: string, message: string) => {
      finish({ success: true, timedOut: false, ...JSON.parse(message) as Record<string, unknown> })
    })
    subscriber.subscribe(channel).then(() => {
      if (done) return
      counted = true
      subscribed++
    }, (err: unknown) => {
      request.log.error({ err }, 'subscribe failed')
      reply.code(503)
      finish({ success: false, error: 'subscribe failed' })
    })
    reply.raw.on('close', () => finish({}))
  })
})

fastify.post<{ Params: { orderId: string }, Body: Record<string, unknown> }>('/callback/:orderId', {
  schema: { params: orderParams, body: { type: 'object' } }
}, async (request) => {
  const receivers = await publisher.publish(`${channelPrefix}:order:${request.params.orderId}`, JSON.stringify({
    orderId: request.params.orderId,
    paymentStatus: 'completed',
    status: 'paid',
    payment: request.body
  }))
  return { success: true, receivers }
})

fastify.get('/stats', async () => ({ subscribed }))
fastify.get('/readyz', async (_request, reply) => {
  await publisher.ping()
  return reply.send({ ready: true })
})
fastify.addHook('onClose', async () => { publisher.disconnect() })

const close = (): void => { fastify.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGTERM', close)
process.once('SIGINT', close)
await fastify.listen({ port, host: '127.0.0.1' })
