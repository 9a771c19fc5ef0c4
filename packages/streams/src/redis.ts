// Opens Redis the way Herald's config says: a single server (`REDIS_URL`) or a Redis Cluster.
import { Redis, Cluster, type RedisOptions, type ClusterNode } from 'ioredis'

export type RedisClient = Redis | Cluster

export interface RedisConnectionOptions {
  /** `redis://…`, `rediss://…`, or `redis+cluster://host:port,host:port` for a cluster. */
  url: string
  /** `REDIS_CLUSTER_NODES`: comma list of host:port; when set, a cluster client is made. */
  clusterNodes?: string
  connectionName?: string
  /** Blocking readers need `null`: a blocked XREADGROUP must not count as a failed request. */
  maxRetriesPerRequest?: number | null
  lazyConnect?: boolean
  enableOfflineQueue?: boolean
}

function parseNodes (list: string): ClusterNode[] {
  return list.split(',').map((item) => item.trim()).filter(Boolean).map((item) => {
    const [host, port] = item.split(':')
    return { host: host!, port: Number(port ?? 6379) }
  })
}

/** Cluster nodes when the options describe a cluster, else null. */
export function clusterNodesOf (options: Pick<RedisConnectionOptions, 'url' | 'clusterNodes'>): ClusterNode[] | null {
  if (options.clusterNodes !== undefined && options.clusterNodes.trim() !== '') return parseNodes(options.clusterNodes)
  if (options.url.startsWith('redis+cluster://')) return parseNodes(options.url.slice('redis+cluster://'.length).split('/')[0]!)
  return null
}

export function createRedisClient (options: RedisConnectionOptions): RedisClient {
  const common: RedisOptions = {
    connectionName: options.connectionName,
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 1 : options.maxRetriesPerRequest,
    lazyConnect: options.lazyConnect ?? false,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    // Reconnect forever with a capped backoff: Redis coming back must heal every process.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000)
  }
  const nodes = clusterNodesOf(options)
  if (nodes !== null) {
    return new Cluster(nodes, {
      redisOptions: common,
      enableOfflineQueue: common.enableOfflineQueue,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      lazyConnect: common.lazyConnect
    })
  }
  return new Redis(options.url, common)
}

/** True when Redis answers PING within `timeoutMs`. */
export async function pingRedis (client: RedisClient, timeoutMs = 1000): Promise<boolean> {
  if (client.status !== 'ready') return false
  let timer: NodeJS.Timeout | undefined
  try {
    const answer = await Promise.race([
      client.ping(),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('ping timeout')), timeoutMs) })
    ])
    return answer === 'PONG'
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
