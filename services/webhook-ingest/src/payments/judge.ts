// What one callback does to an order: the state machine and the amount check over the order's row. Pure
// (no I/O): the per-request path and the set-based batch both write what it decides.
import type { OrderSnapshot, WebhookDisposition } from '@herald/contracts'
import type { OrderRow } from '../snapshots.js'
import { amountMatches, type CallbackReferences, type ProviderCallback } from './callbacks.js'
import { decideTransition } from './state-machine.js'

export type ReviewKind = 'amount_mismatch' | 'final_state_conflict'

export interface ReviewRecord {
  kind: ReviewKind
  fromStatus: string
  attemptedStatus: string
  details: Record<string, unknown>
}

export interface CallbackVerdict {
  disposition: WebhookDisposition
  reviewKind?: ReviewKind
  review?: ReviewRecord
  /** The order's next version, when the callback changes it. */
  next?: OrderRow
}

/** The row's next version with `changes` applied: the order is locked, so this is what the update writes. */
export function nextVersion (row: OrderRow, changes: Partial<OrderRow>): OrderRow {
  return { ...row, ...changes, version: row.version + 1, updatedAt: new Date() }
}

/** The best match when references point at several orders: CheckoutRequestID, then ours, then PayHero's. */
export function bestMatch (rows: readonly OrderRow[], references: CallbackReferences): OrderRow | undefined {
  return rows.find((r) => references.checkoutRequestId !== undefined && r.checkoutRequestId === references.checkoutRequestId) ??
    rows.find((r) => references.externalReference !== undefined && r.externalReference === references.externalReference) ??
    rows.find((r) => references.providerReference !== undefined && r.providerReference === references.providerReference)
}

/** Flags the order for review (a new version, so waiting clients see it) unless it already is. */
const flaggedForReview = (order: OrderRow): OrderRow | undefined => order.needsReview ? undefined : nextVersion(order, { needsReview: true })

export function judgeCallback (order: OrderRow, callback: ProviderCallback): CallbackVerdict {
  if (!amountMatches(callback, order)) {
    return {
      disposition: 'review',
      reviewKind: 'amount_mismatch',
      review: {
        kind: 'amount_mismatch',
        fromStatus: order.paymentStatus,
        attemptedStatus: callback.outcome,
        details: { expected: { amount: Number(order.totalAmount), currency: order.currency }, received: { amount: callback.amount, currency: callback.currency }, provider: callback.provider }
      },
      next: flaggedForReview(order)
    }
  }
  const decision = decideTransition({ paymentStatus: order.paymentStatus as OrderSnapshot['paymentStatus'], outcome: order.outcome as OrderSnapshot['payment']['outcome'], needsReview: order.needsReview }, callback.outcome)
  if (decision.kind === 'already') return { disposition: 'duplicate' }
  if (decision.kind === 'review') {
    return {
      disposition: 'review',
      reviewKind: decision.reason,
      review: {
        kind: decision.reason,
        fromStatus: decision.from,
        attemptedStatus: decision.attempted,
        details: { provider: callback.provider, outcome: callback.outcome, resultCode: callback.resultCode, resultDesc: callback.resultDesc, receipt: callback.receipt }
      },
      next: flaggedForReview(order)
    }
  }
  const { next } = decision
  return {
    disposition: 'applied',
    next: nextVersion(order, {
      paymentStatus: next.paymentStatus,
      status: next.status,
      outcome: next.outcome,
      resultCode: callback.resultCode,
      resultDesc: callback.resultDesc,
      receipt: callback.receipt ?? order.receipt,
      needsReview: next.needsReview
    })
  }
}
