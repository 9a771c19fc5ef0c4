// Provider callbacks (PayHero v2, PayHero Africa, Daraja STK) reduced to the one shape the state machine reads.
import type {
  DarajaStkCallback, PayHeroAfricaCallback, PayHeroV2Callback, PaymentOutcome, PaymentProvider
} from '@herald/contracts'
import { outcomeOfPayHeroAfrica, outcomeOfResultCode } from './state-machine.js'

/** `backend_report`: an outcome the merchant's back-end verified itself and reported (POST /v1/orders/:orderId/outcome). */
export type CallbackShape = 'payhero_v2' | 'payhero_africa' | 'daraja_stk' | 'backend_report'

/** The references a callback can be matched to an order by, each against the same-named order column. */
export interface CallbackReferences {
  checkoutRequestId?: string
  externalReference?: string
  /** PayHero's own payment `reference` (what its payment request answered), stored as the order's providerReference. */
  providerReference?: string
}

/** A provider callback with no personal data: what is parked and what the state machine reads. */
export interface ProviderCallback {
  provider: PaymentProvider
  shape: CallbackShape
  references: CallbackReferences
  resultCode: number | null
  resultDesc: string
  outcome: PaymentOutcome
  receipt: string | null
  /** Amount the provider says was paid or asked; null when the callback does not carry one. */
  amount: number | null
  /** M-PESA only moves KES: Daraja and PayHero v2 callbacks carry no currency and are KES. */
  currency: string
}

const MPESA_CURRENCY = 'KES'

function nonEmpty (value: string | undefined | null): string | undefined {
  const trimmed = value?.trim()
  return trimmed === undefined || trimmed === '' ? undefined : trimmed
}

export function fromPayHeroV2 (body: PayHeroV2Callback): ProviderCallback {
  const r = body.response
  return {
    provider: 'payhero',
    shape: 'payhero_v2',
    references: compact({ checkoutRequestId: nonEmpty(r.CheckoutRequestID), externalReference: nonEmpty(r.ExternalReference) }),
    resultCode: r.ResultCode,
    resultDesc: r.ResultDesc,
    outcome: outcomeOfResultCode(r.ResultCode),
    receipt: nonEmpty(r.MpesaReceiptNumber) ?? null,
    amount: r.Amount,
    currency: MPESA_CURRENCY
  }
}

export function fromPayHeroAfrica (body: PayHeroAfricaCallback): ProviderCallback {
  return {
    provider: 'payhero',
    shape: 'payhero_africa',
    references: compact({ providerReference: nonEmpty(body.reference), externalReference: nonEmpty(body.external_reference) }),
    resultCode: body.result_code ?? null,
    resultDesc: body.message ?? body.status,
    outcome: outcomeOfPayHeroAfrica({ success: body.success, status: body.status, message: body.message, resultCode: body.result_code }),
    // PayHero Africa's `provider_reference` is the M-PESA receipt number.
    receipt: nonEmpty(body.provider_reference) ?? nonEmpty(body.transaction_id) ?? null,
    amount: body.amount,
    currency: body.currency ?? MPESA_CURRENCY
  }
}

export function fromDarajaStk (body: DarajaStkCallback): ProviderCallback {
  const cb = body.Body.stkCallback
  const item = (name: string) => cb.CallbackMetadata?.Item.find((i) => i.Name === name)?.Value
  const amount = item('Amount')
  const receipt = item('MpesaReceiptNumber')
  return {
    provider: 'mpesa',
    shape: 'daraja_stk',
    references: compact({ checkoutRequestId: nonEmpty(cb.CheckoutRequestID) }),
    resultCode: cb.ResultCode,
    resultDesc: cb.ResultDesc,
    outcome: outcomeOfResultCode(cb.ResultCode),
    receipt: receipt === undefined ? null : nonEmpty(String(receipt)) ?? null,
    amount: amount === undefined || Number.isNaN(Number(amount)) ? null : Number(amount),
    currency: MPESA_CURRENCY
  }
}

function compact (references: CallbackReferences): CallbackReferences {
  const out: CallbackReferences = {}
  for (const [key, value] of Object.entries(references) as Array<[keyof CallbackReferences, string | undefined]>) {
    if (value !== undefined) out[key] = value
  }
  return out
}

/**
 * The same callback twice has the same key: provider, its primary reference, and the result it reports.
 * A different result for the same payment is a different callback (it goes through the state machine).
 */
export function dedupeKeyOf (callback: ProviderCallback): string {
  const { checkoutRequestId, providerReference, externalReference } = callback.references
  const reference = checkoutRequestId ?? providerReference ?? externalReference ?? ''
  return `${callback.provider}|${reference}|${callback.resultCode ?? ''}|${callback.outcome}`
}

/**
 * Names of the references, one per (column, value): a callback and an order registration that share one
 * take the same Postgres advisory lock, so a callback can never be parked just as its order is registered.
 */
export function referenceLockNames (references: CallbackReferences): string[] {
  const names: string[] = []
  if (references.checkoutRequestId !== undefined) names.push(`checkout:${references.checkoutRequestId}`)
  if (references.externalReference !== undefined) names.push(`external:${references.externalReference}`)
  if (references.providerReference !== undefined) names.push(`provider:${references.providerReference}`)
  return names
}

/** True when the callback's amount and currency match the order's (to the cent); a missing amount is not checked. */
export function amountMatches (callback: Pick<ProviderCallback, 'amount' | 'currency'>, order: { totalAmount: string | number, currency: string }): boolean {
  if (callback.currency !== order.currency) return false
  if (callback.amount === null) return true
  return Math.round(callback.amount * 100) === Math.round(Number(order.totalAmount) * 100)
}
