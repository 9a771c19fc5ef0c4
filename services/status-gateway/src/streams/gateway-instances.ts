// Which gateway replicas are alive, and removal of the consumer groups of those that are gone.
import type { FastifyBaseLogger } from 'fastify'
import { readGroups, type RedisClient, type StreamLayout } from '@herald/streams'
import { PeriodicTask } from '@herald/service-kit'

const GROUP_PREFIX = 'gw:'

/** The consumer group of one gateway replica: every replica must see every event. */
export function groupNameOf (instanceId: string): string {
  return `${GROUP_PREFIX}${instanceId}`
}

export interface GatewayInstancesOptions {
  redis: RedisClient
  layout: StreamLayout
  instanceId: string
  heartbeatMs: number
  idleMs: number
  log: FastifyBaseLogger
}

/**
 * A sorted set `<prefix>:meta:gateway-instances` of instance id -> last seen (epoch ms). Each replica
 * beats every `heartbeatMs` and, on the same tick, destroys on every shard the groups of replicas not
 * seen for `idleMs`, and `gw:` groups with no entry at all (their replica beat before creating them,
 * so a group without an entry belongs to a replica that was already swept).
 */
export class GatewayInstances {
  readonly #options: GatewayInstancesOptions
  readonly #key: string
  readonly #log: FastifyBaseLogger
  readonly #ticks: PeriodicTask
  #closed = false

  constructor (options: GatewayInstancesOptions) {
    this.#options = options
    this.#key = options.layout.metaKey('gateway-instances')
    this.#log = options.log.child({ component: 'gateway-instances' })
    this.#ticks = new PeriodicTask({
      name: 'heartbeat or group sweep',
      intervalMs: options.heartbeatMs,
      log: this.#log,
      run: async () => {
        await this.beat()
        await this.sweep()
      }
    })
  }

  /** Records this replica before its groups exist, then keeps beating. */
  async start (): Promise<void> {
    await this.beat().catch((err: unknown) => this.#log.warn({ err }, 'first heartbeat failed; retrying on the next tick'))
    this.#ticks.start()
  }

  async beat (): Promise<void> {
    await this.#options.redis.zadd(this.#key, Date.now(), this.#options.instanceId)
  }

  /** Destroys the groups of replicas idle past `idleMs`; returns the group names removed. */
  async sweep (now = Date.now()): Promise<string[]> {
    const { redis, layout, instanceId, idleMs } = this.#options
    const stale = new Set(await redis.zrangebyscore(this.#key, '-inf', now - idleMs))
    stale.delete(instanceId)
    const removed: string[] = []
    for (const streamKey of layout.streamKeys()) {
      for (const { name } of await readGroups(redis, streamKey)) {
        if (!name.startsWith(GROUP_PREFIX)) continue
        const owner = name.slice(GROUP_PREFIX.length)
        if (owner === instanceId) continue
        const gone = stale.has(owner) || (await redis.zscore(this.#key, owner)) === null
        if (!gone) continue
        await redis.xgroup('DESTROY', streamKey, name)
        removed.push(name)
      }
    }
    if (stale.size > 0) await redis.zrem(this.#key, ...stale)
    if (removed.length > 0) this.#log.info({ groups: removed }, 'removed consumer groups of gateway replicas that are gone')
    return removed
  }

  /** Stops beating and removes this replica's own groups: nobody will read them again. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#ticks.close()
    const { redis, layout, instanceId } = this.#options
    try {
      for (const streamKey of layout.streamKeys()) await redis.xgroup('DESTROY', streamKey, groupNameOf(instanceId))
      await redis.zrem(this.#key, instanceId)
    } catch (err) {
      this.#log.warn({ err }, 'could not remove this replica\'s consumer groups; another replica will sweep them')
    }
  }
}
