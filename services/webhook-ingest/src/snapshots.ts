// Builds the contracts' snapshots from Postgres rows: what the outbox carries and the internal API answers.
import type {
  OrderSnapshot, PaymentOutcome, PaymentProvider, PaymentStatus, OrderStatus, ProcessLogEntry, RegistrationSnapshot
} from '@herald/contracts'
import type { orders, registrations } from '@herald/db'

export type OrderRow = typeof orders.$inferSelect
export type RegistrationRow = typeof registrations.$inferSelect

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
  if (row.details !== null && row.details !== undefined) snapshot.details = row.details as Record<string, unknown>
  return snapshot
}
