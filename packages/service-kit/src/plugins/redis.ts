// The service's Redis command connection and the stream layout, with a readiness check.
import fp from 'fastify-plugin'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { StreamLayout, createRedisClient, pingRedis, type RedisClient } from '@herald/streams'

export interface RedisPluginOptions {
  url: string
  clusterNodes?: string
  prefix: string
  shards: number
  connectionName: string
  /** Whether /readyz fails while Redis is down (see ReadinessOptions); default true. */
  requiredForReadiness?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: RedisClient
    streamLayout: StreamLayout
    redisOptions: RedisPluginOptions
  }
}

export default fp<RedisPluginOptions>(async (fastify, opts) => {
  const log = fastify.log.child({ component: 'redis' })
  // No offline queue: with Redis down a command fails at once instead of piling up in memory.
  const redis = createRedisClient({ url: opts.url, clusterNodes: opts.clusterNodes, connectionName: opts.connectionName, enableOfflineQueue: false })
  let lastError = ''
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) log.warn({ err }, 'redis connection error')
    lastError = err.message
  })
  redis.on('ready', () => {
    if (lastError !== '') log.info('redis connection ready')
    lastError = ''
  })
  // Give the first connection a moment so a service that starts with Redis up is ready at once.
  await Promise.race([once(redis, 'ready'), delay(2000)]).catch(() => {})
  fastify.decorate<RedisClient>('redis', redis)
  fastify.decorate('streamLayout', new StreamLayout({ prefix: opts.prefix, shards: opts.shards }))
  fastify.decorate('redisOptions', opts)
  fastify.readiness.add('redis', () => pingRedis(redis), { required: opts.requiredForReadiness ?? true })
  fastify.addHook('onClose', async () => {
    redis.disconnect()
  })
}, { name: 'herald-redis', dependencies: ['herald-health'] })
