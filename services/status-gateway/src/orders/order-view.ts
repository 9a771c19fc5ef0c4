// Pure rules on order snapshots: which of two states is newer, and what a reader may see of one.
import { isFinalPaymentStatus, type OrderSnapshot } from '@herald/contracts'
import { maskText } from '@herald/service-kit'

export function isFinalPayment (order: OrderSnapshot): boolean {
  return isFinalPaymentStatus(order.paymentStatus)
}

/** The newer of two states of one order (by version); either may be missing. */
export function newerOrder (a: OrderSnapshot | null, b: OrderSnapshot | null): OrderSnapshot | null {
  if (a === null) return b
  if (b === null) return a
  return b.version > a.version ? b : a
}

/**
 * The order as a reader may see it: customer details only for a reader the order is open to. The
 * provider's `resultDesc` is free text that can name the payer's phone number: masked for the others.
 */
export function orderForReader (order: OrderSnapshot, showCustomer: boolean): OrderSnapshot {
  if (showCustomer) return order
  const resultDesc = order.payment.resultDesc === null ? null : maskText(order.payment.resultDesc)
  return { ...order, customer: null, payment: { ...order.payment, resultDesc } }
}
