// The payment state machine: provider results to outcomes, and which transitions an order may take.
// Pure (no I/O) so every transition is tested by a table.
import type { OrderStatus, PaymentOutcome, PaymentStatus } from '@herald/contracts'

/** Daraja result codes (PayHero v2 passes them through) that mean a plain failure, with the reason kept. */
export const FAILED_RESULT_CODES: ReadonlySet<number> = new Set([1001, 1019, 17, 26, 1025, 9999])

/** What a Daraja / PayHero v2 `ResultCode` means; a code nobody knows is `unknown`, never paid. */
export function outcomeOfResultCode (code: number): PaymentOutcome {
  switch (code) {
    case 0: return 'completed'
    case 1032: return 'cancelled'
    case 1037: return 'expired'
    case 1: return 'insufficient_funds'
    case 2001: return 'wrong_pin'
    default: return FAILED_RESULT_CODES.has(code) ? 'failed' : 'unknown'
  }
}

/**
 * PayHero Africa sends `success`, `status` and a human `message` but usually no result code. A result code,
 * when present, wins. Otherwise `success: true` with status `success` is paid; `success: false` with status
 * `failed` is read from the message; anything else (queued, a success flag contradicting the status, a status
 * nobody documented) is `unknown` and goes to review.
 */
export function outcomeOfPayHeroAfrica (input: { success: boolean, status: string, message?: string, resultCode?: number }): PaymentOutcome {
  if (input.resultCode !== undefined) return outcomeOfResultCode(input.resultCode)
  const status = input.status.trim().toLowerCase()
  if (input.success && status === 'success') return 'completed'
  if (input.success || status !== 'failed') return 'unknown'
  const message = (input.message ?? '').toLowerCase()
  if (/cancel/.test(message)) return 'cancelled'
  if (/expired|timeout|timed out|cannot be reached/.test(message)) return 'expired'
  if (/insufficient|balance/.test(message)) return 'insufficient_funds'
  if (/\bpin\b|initiator information/.test(message)) return 'wrong_pin'
  return 'failed'
}

/** The frontend vocabulary (`paymentStatus`) for an outcome: an unknown result keeps the payment processing. */
export function paymentStatusOf (outcome: PaymentOutcome): PaymentStatus {
  switch (outcome) {
    case 'completed': return 'completed'
    case 'cancelled': return 'cancelled'
    case 'unknown': return 'processing'
    default: return 'failed'
  }
}

export function orderStatusOf (paymentStatus: PaymentStatus): OrderStatus {
  switch (paymentStatus) {
    case 'completed': return 'paid'
    case 'cancelled': return 'cancelled'
    case 'failed': return 'failed'
    default: return 'pending'
  }
}

export function isFinalPaymentStatus (status: PaymentStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled'
}

export interface PaymentState {
  paymentStatus: PaymentStatus
  outcome: PaymentOutcome | null
  needsReview: boolean
}

export interface NextPaymentState {
  paymentStatus: PaymentStatus
  status: OrderStatus
  outcome: PaymentOutcome
  needsReview: boolean
}

export type TransitionDecision =
  /** Apply: the order moves to `next`. */
  | { kind: 'apply', next: NextPaymentState }
  /** The order already is in this final state (a second provider or a retry with another code): nothing to do. */
  | { kind: 'already', }
  /** A final state would change (late or contradictory callback): recorded for review, never applied. */
  | { kind: 'review', reason: 'final_state_conflict', from: PaymentStatus, attempted: PaymentStatus }

/**
 * Decides what a callback with `outcome` does to a payment in `current`. Final states never regress or
 * change; pending and processing accept anything. `needsReview` is sticky: once a payment had an unknown
 * result, a human should look at it even if it later completes.
 */
export function decideTransition (current: PaymentState, outcome: PaymentOutcome): TransitionDecision {
  const attempted = paymentStatusOf(outcome)
  if (isFinalPaymentStatus(current.paymentStatus)) {
    if (attempted === current.paymentStatus && outcome === current.outcome) return { kind: 'already' }
    return { kind: 'review', reason: 'final_state_conflict', from: current.paymentStatus, attempted }
  }
  return {
    kind: 'apply',
    next: {
      paymentStatus: attempted,
      status: orderStatusOf(attempted),
      outcome,
      needsReview: current.needsReview || outcome === 'unknown'
    }
  }
}
