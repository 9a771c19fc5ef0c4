// Current state of orders and registrations: the Redis snapshot, else Postgres (read-only).
import type { FastifyBaseLogger } from 'fastify'
import { inArray, eq } from 'drizzle-orm'
import type { EntityType, OrderSnapshot, RegistrationSnapshot, StreamEvent } from '@herald/contracts'
import { isDatabaseUnavailable, orders, orderSnapshotOf, registrations, registrationSnapshotOf, type HeraldDatabase } from '@herald/db'
import { readSnapshot, type RedisClient, type StreamLayout } from '@herald/streams'
import { UnavailableError } from '@herald/service-kit'
import { isFinalPayment, newerOrder } from '../orders/order-view.js'

export interface StatusStoreOptions {
  db: HeraldDatabase
  redis: RedisClient
  layout: StreamLayout
  log: FastifyBaseLogger
}

/**
 * A Postgres outage is a 503 (retry shortly), not a 500: the reads here run only when Redis could not
 * answer, so with both down the gateway has nothing to serve.
 */
async function fromDatabase<T> (read: Promise<T>): Promise<T> {
  try {
    return await read
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw new UnavailableError('Status is unavailable right now (no Redis snapshot and no database); retry shortly', { cause: err })
    throw err
  }
}

export class StatusStore {
  readonly #options: StatusStoreOptions
  readonly #log: FastifyBaseLogger

  constructor (options: StatusStoreOptions) {
    this.#options = options
    this.#log = options.log.child({ component: 'status-store' })
  }

  async readOrder (orderId: string): Promise<OrderSnapshot | null> {
    const event = await this.#fromRedis('order', orderId)
    if (event?.entityType === 'order') return event.order
    return this.readOrderFromDatabase(orderId)
  }

  /**
   * The order for a long-poll that timed out: the Redis snapshot, checked against Postgres unless it is
   * final (a final state never changes). Redis can lose acknowledged writes (the last second of its
   * AOF, a failover); without this check a paid order whose last publish was lost would read `pending`
   * from Redis at every timeout. One query per timed-out waiter, so at most one per waiter per timeout.
   */
  async readOrderChecked (orderId: string): Promise<OrderSnapshot | null> {
    const event = await this.#fromRedis('order', orderId)
    const cached = event?.entityType === 'order' ? event.order : null
    if (cached !== null && isFinalPayment(cached)) return cached
    let stored: OrderSnapshot | null
    try {
      stored = await this.readOrderFromDatabase(orderId)
    } catch (err) {
      if (cached === null) throw err
      this.#log.debug({ err }, 'order check in Postgres failed; answering with the Redis snapshot')
      return cached
    }
    if (cached !== null && stored !== null && stored.version > cached.version) {
      this.#log.warn({ orderId, redisVersion: cached.version, postgresVersion: stored.version }, 'Redis snapshot is behind Postgres (lost writes?); answering from Postgres')
    }
    return newerOrder(cached, stored)
  }

  async readOrderFromDatabase (orderId: string): Promise<OrderSnapshot | null> {
    const [row] = await fromDatabase(this.#options.db.select().from(orders).where(eq(orders.id, orderId)).limit(1))
    return row === undefined ? null : orderSnapshotOf(row)
  }

  /** One query for every order a set of held long-polls waits on (degraded mode). */
  async readOrdersFromDatabase (orderIds: string[]): Promise<OrderSnapshot[]> {
    if (orderIds.length === 0) return []
    const rows = await fromDatabase(this.#options.db.select().from(orders).where(inArray(orders.id, orderIds)))
    return rows.map(orderSnapshotOf)
  }

  async readRegistration (registrationId: string): Promise<RegistrationSnapshot | null> {
    const event = await this.#fromRedis('registration', registrationId)
    if (event?.entityType === 'registration') return event.registration
    const [row] = await fromDatabase(this.#options.db.select().from(registrations).where(eq(registrations.id, registrationId)).limit(1))
    return row === undefined ? null : registrationSnapshotOf(row)
  }

  /** The Redis snapshot, or undefined when Redis cannot answer (the caller falls back to Postgres). */
  async #fromRedis (entityType: EntityType, id: string): Promise<StreamEvent | null | undefined> {
    const { redis, layout } = this.#options
    if (redis.status !== 'ready') return undefined
    try {
      return await readSnapshot(redis, layout, entityType, id)
    } catch (err) {
      this.#log.debug({ err }, 'snapshot read from Redis failed; answering from Postgres')
      return undefined
    }
  }
}
