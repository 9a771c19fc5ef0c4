// Opens Redis the way Herald's config says: a single server (`REDIS_URL`) or a Redis Cluster.
import { Redis, Cluster, type RedisOptions, type ClusterNode } from 'ioredis'

export type RedisClient = Redis | Cluster

export interface RedisConnectionOptions {
  /** `redis://…`, `rediss://…`, or `redis+cluster://[user:pass@]host:port,host:port` (`rediss+cluster://`) for a cluster. */
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

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?]+)/

/** A cluster to connect to: its seed nodes and what every node connection needs. */
export interface ClusterTarget {
  nodes: ClusterNode[]
  username?: string
  password?: string
  tls: boolean
}

/** `user:password` of a URL's userinfo, percent-decoded; an empty user means the default user. */
function credentialsOf (userinfo: string | undefined): Pick<ClusterTarget, 'username' | 'password'> {
  if (userinfo === undefined || userinfo === '') return {}
  const colon = userinfo.indexOf(':')
  const username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon))
  const password = colon === -1 ? undefined : decodeURIComponent(userinfo.slice(colon + 1))
  return { ...(username !== '' ? { username } : {}), ...(password !== undefined ? { password } : {}) }
}

/**
 * The cluster the options describe, or null for a single server. `redis+cluster://[user:pass@]h:p,h:p`
 * (`rediss+cluster://` for TLS), or `REDIS_CLUSTER_NODES` (which takes precedence for the nodes) with the
 * credentials and TLS of `REDIS_URL`: managed clusters usually require both.
 */
export function clusterTargetOf (options: Pick<RedisConnectionOptions, 'url' | 'clusterNodes'>): ClusterTarget | null {
  const cluster = CLUSTER_URL.exec(options.url)
  const explicitNodes = options.clusterNodes !== undefined && options.clusterNodes.trim() !== ''
  if (cluster === null && !explicitNodes) return null
  let auth: Pick<ClusterTarget, 'username' | 'password'> = {}
  let tls = false
  if (cluster !== null) {
    auth = credentialsOf(cluster[2])
    tls = cluster[1] === 'rediss'
  } else {
    try {
      const url = new URL(options.url)
      auth = credentialsOf(url.username === '' && url.password === '' ? undefined : `${url.username}:${url.password}`)
      tls = url.protocol === 'rediss:'
    } catch {}
  }
  const nodes = explicitNodes ? parseNodes(options.clusterNodes!) : parseNodes(cluster![3]!)
  return { nodes, ...auth, tls }
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
  const cluster = clusterTargetOf(options)
  if (cluster !== null) {
    return new Cluster(cluster.nodes, {
      redisOptions: {
        ...common,
        ...(cluster.username !== undefined ? { username: cluster.username } : {}),
        ...(cluster.password !== undefined ? { password: cluster.password } : {}),
        ...(cluster.tls ? { tls: {} } : {})
      },
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
