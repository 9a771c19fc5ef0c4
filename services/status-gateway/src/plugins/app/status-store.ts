// Current state of orders and registrations: the Redis snapshot, else Postgres (read-only).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { inArray, eq } from 'drizzle-orm'
import {
  type OrderSnapshot, type PaymentOutcome, type PaymentProvider, type PaymentStatus,
  type OrderStatus, type RegistrationSnapshot, type RegistrationOverallStatus, type ProcessLogEntry
} from '@herald/contracts'
import { orders, registrations } from '@herald/db'
import { readSnapshot } from '@herald/streams'
import { isFinalPayment, newerOrder } from '../../orders/order-view.js'

type OrderRow = typeof orders.$inferSelect
type RegistrationRow = typeof registrations.$inferSelect

export function orderSnapshotFromRow (row: OrderRow): OrderSnapshot {
  return {
    orderId: row.id,
    orderNumber: row.orderNumber,
    paymentStatus: row.paymentStatus as PaymentStatus,
    status: row.status as OrderStatus,
    totalAmount: Number(row.totalAmount),
    currency: row.currency,
    ticketCount: row.ticketCount,
    customer: { email: row.customerEmail, firstName: row.customerFirstName, lastName: row.customerLastName },
    payment: {
      provider: row.provider as PaymentProvider,
      outcome: row.outcome as PaymentOutcome | null,
      resultCode: row.resultCode,
      resultDesc: row.resultDesc,
      receipt: row.receipt,
      checkoutRequestId: row.checkoutRequestId
    },
    needsReview: row.needsReview,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version
  }
}

export function registrationSnapshotFromRow (row: RegistrationRow): RegistrationSnapshot {
  const snapshot: RegistrationSnapshot = {
    registrationId: row.id,
    status: row.status as RegistrationOverallStatus,
    stage: row.stage,
    message: row.message,
    processLog: (row.processLog ?? []) as ProcessLogEntry[],
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version
  }
  if (row.details !== null && typeof row.details === 'object') snapshot.details = row.details as Record<string, unknown>
  return snapshot
}

export function createStatusStore (fastify: FastifyInstance) {
  const { db, streamLayout: layout } = fastify
  const log = fastify.log.child({ component: 'status-store' })

  /** The Redis snapshot, or undefined when Redis cannot answer (the caller falls back to Postgres). */
  async function fromRedis (entityType: 'order' | 'registration', id: string) {
    if (fastify.redis.status !== 'ready') return undefined
    try {
      return await readSnapshot(fastify.redis, layout, entityType, id)
    } catch (err) {
      log.debug({ err }, 'snapshot read from Redis failed; answering from Postgres')
      return undefined
    }
  }

  return {
    async readOrder (orderId: string): Promise<OrderSnapshot | null> {
      const event = await fromRedis('order', orderId)
      if (event?.entityType === 'order') return event.order
      return this.readOrderFromDatabase(orderId)
    },

    /**
     * The order for a long-poll that timed out: the Redis snapshot, checked against Postgres unless it is
     * final (a final state never changes). Redis can lose acknowledged writes (the last second of its
     * AOF, a failover); without this check a paid order whose last publish was lost would read `pending`
     * from Redis at every timeout. One query per timed-out waiter, so at most one per waiter per timeout.
     */
    async readOrderChecked (orderId: string): Promise<OrderSnapshot | null> {
      const event = await fromRedis('order', orderId)
      const cached = event?.entityType === 'order' ? event.order : null
      if (cached !== null && isFinalPayment(cached)) return cached
      let stored: OrderSnapshot | null
      try {
        stored = await this.readOrderFromDatabase(orderId)
      } catch (err) {
        if (cached === null) throw err
        log.debug({ err }, 'order check in Postgres failed; answering with the Redis snapshot')
        return cached
      }
      if (cached !== null && stored !== null && stored.version > cached.version) {
        log.warn({ orderId, redisVersion: cached.version, postgresVersion: stored.version }, 'Redis snapshot is behind Postgres (lost writes?); answering from Postgres')
      }
      return newerOrder(cached, stored)
    },

    async readOrderFromDatabase (orderId: string): Promise<OrderSnapshot | null> {
      const [row] = await db.select().from(orders).where(eq(orders.id, orderId)).limit(1)
      return row === undefined ? null : orderSnapshotFromRow(row)
    },

    /** One query for every order a set of held long-polls waits on (degraded mode). */
    async readOrdersFromDatabase (orderIds: string[]): Promise<OrderSnapshot[]> {
      if (orderIds.length === 0) return []
      const rows = await db.select().from(orders).where(inArray(orders.id, orderIds))
      return rows.map(orderSnapshotFromRow)
    },

    async readRegistration (registrationId: string): Promise<RegistrationSnapshot | null> {
      const event = await fromRedis('registration', registrationId)
      if (event?.entityType === 'registration') return event.registration
      const [row] = await db.select().from(registrations).where(eq(registrations.id, registrationId)).limit(1)
      return row === undefined ? null : registrationSnapshotFromRow(row)
    }
  }
}

export type StatusStore = ReturnType<typeof createStatusStore>

declare module 'fastify' {
  interface FastifyInstance {
    statusStore: StatusStore
  }
}

export default fp(async (fastify) => {
  fastify.decorate('statusStore', createStatusStore(fastify))
}, { name: 'gateway-status-store', dependencies: ['herald-database', 'herald-redis'] })
