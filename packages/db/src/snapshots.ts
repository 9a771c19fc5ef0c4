// Rows to the contracts' snapshots: the one mapping both services use (outbox events, internal API, gateway reads).
import type {
  OrderSnapshot, OrderStatus, PaymentOutcome, PaymentProvider, PaymentStatus, ProcessLogEntry, RegistrationSnapshot
} from '@herald/contracts'
import type { orders, registrations } from './schema.js'

export type OrderRow = typeof orders.$inferSelect
export type RegistrationRow = typeof registrations.$inferSelect

/** Drizzle hands back Dates, a raw pg query on a text cast a string: both become ISO-8601. */
const iso = (value: Date | string): string => (value instanceof Date ? value : new Date(value)).toISOString()

export function orderSnapshotOf (row: OrderRow): OrderSnapshot {
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
      outcome: (row.outcome ?? null) as PaymentOutcome | null,
      resultCode: row.resultCode ?? null,
      resultDesc: row.resultDesc ?? null,
      receipt: row.receipt ?? null,
      checkoutRequestId: row.checkoutRequestId ?? null
    },
    needsReview: row.needsReview,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    version: row.version
  }
}

export function registrationSnapshotOf (row: RegistrationRow): RegistrationSnapshot {
  const snapshot: RegistrationSnapshot = {
    registrationId: row.id,
    status: row.status as RegistrationSnapshot['status'],
    stage: row.stage,
    message: row.message,
    processLog: (row.processLog ?? []) as ProcessLogEntry[],
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    version: row.version
  }
  // `details` is a JSON object when present; anything else (null, a scalar) is left out.
  if (row.details !== null && typeof row.details === 'object') snapshot.details = row.details as Record<string, unknown>
  return snapshot
}
