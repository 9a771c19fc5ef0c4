// The service's Redis command connection and the stream layout, with a readiness check.
import fp from 'fastify-plugin'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { ShardCountMismatchError, StreamLayout, claimShardCount, createRedisClient, pingRedis, type RedisClient } from '@herald/streams'
import { ConfigError } from '../config.js'

/** How long the command connection may stay unready (Redis down included) before it is replaced. */
const UNREADY_DEADLINE_MS = 8000

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
  redis.on('reconnecting', (delayMs: number) => log.debug({ delayMs, status: redis.status }, 'redis reconnecting'))
  redis.on('end', () => log.warn('redis connection ended; no more reconnects'))
  const layout = new StreamLayout({ prefix: opts.prefix, shards: opts.shards })
  // Every (re)connection claims the shard count: the first service records it, a service configured with
  // another count is refused (exit 78), and a Redis that lost its data gets the record back.
  let started = false
  let shardCheck: Promise<void> = Promise.resolve()
  const checkShards = async (): Promise<void> => {
    try {
      await claimShardCount(redis, layout)
    } catch (err) {
      if (!(err instanceof ShardCountMismatchError)) return log.warn({ err }, 'could not check the recorded shard count')
      if (!started) throw new ConfigError('HERALD_STREAM_SHARDS', err.message.replace(/^HERALD_STREAM_SHARDS /, ''))
      log.fatal({ configured: err.configured, recorded: err.recorded }, err.message)
      process.exit(78)
    }
  }
  redis.on('ready', () => { shardCheck = checkShards() })
  // Give the first connection a moment so a service that starts with Redis up is ready at once.
  await Promise.race([once(redis, 'ready'), delay(2000)]).catch(() => {})
  try {
    await shardCheck
  } catch (err) {
    redis.disconnect()
    throw err
  }
  started = true
  fastify.decorate<RedisClient>('redis', redis)
  fastify.decorate('streamLayout', layout)
  fastify.decorate('redisOptions', opts)
  fastify.readiness.add('redis', () => pingRedis(redis), { required: opts.requiredForReadiness ?? true })
  // A connection that stays unready past a deadline is replaced, in case ioredis stalls between connecting
  // and ready (no error, no retry): the service would otherwise answer 503 for good while Redis is back.
  let unreadySince: number | undefined
  const unreadyWatch = setInterval(() => {
    const status = redis.status
    if (status === 'ready' || status === 'end' || status === 'wait') {
      unreadySince = undefined
      return
    }
    unreadySince ??= Date.now()
    if (Date.now() - unreadySince < UNREADY_DEADLINE_MS) return
    log.warn({ status, unreadyMs: Date.now() - unreadySince }, 'redis connection not ready past its deadline; reconnecting it')
    unreadySince = undefined
    redis.disconnect(true)
  }, 1000)
  unreadyWatch.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(unreadyWatch)
    redis.disconnect()
  })
}, { name: 'herald-redis', dependencies: ['herald-health'] })
