// Orders: the internal upsert body and the snapshot every gateway response is built from.
import Type, { type Static } from 'typebox'

export const PaymentStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('processing'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('cancelled')
])
export type PaymentStatus = Static<typeof PaymentStatus>
export const FINAL_PAYMENT_STATUSES: readonly PaymentStatus[] = ['completed', 'failed', 'cancelled']

/** The one rule for "this payment is final": its status never changes again. */
export function isFinalPaymentStatus (status: PaymentStatus): boolean {
  return FINAL_PAYMENT_STATUSES.includes(status)
}

export const PaymentOutcome = Type.Union([
  Type.Literal('completed'),
  Type.Literal('cancelled'),
  Type.Literal('expired'),
  Type.Literal('insufficient_funds'),
  Type.Literal('wrong_pin'),
  Type.Literal('failed'),
  Type.Literal('unknown')
])
export type PaymentOutcome = Static<typeof PaymentOutcome>

export const OrderStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('paid'),
  Type.Literal('cancelled'),
  Type.Literal('failed')
])
export type OrderStatus = Static<typeof OrderStatus>

export const PaymentProvider = Type.Union([Type.Literal('payhero'), Type.Literal('mpesa')])
export type PaymentProvider = Static<typeof PaymentProvider>

/** Entity ids travel in URLs, stream entries and SSE `id:` lines: keep them to a safe alphabet. */
export const EntityId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' })
export const Currency = Type.String({ pattern: '^[A-Z]{3}$' })
export const IsoTimestamp = Type.String({ format: 'date-time', maxLength: 40 })
/** Milliseconds since the epoch: the time of every SSE message, as in the designs Herald replaces. */
export const EpochMillis = Type.Integer({ minimum: 0 })

export const Customer = Type.Object({
  email: Type.String({ format: 'email', maxLength: 254 }),
  firstName: Type.String({ maxLength: 100 }),
  lastName: Type.String({ maxLength: 100 }),
  phone: Type.Optional(Type.String({ pattern: '^\\+?[0-9]{6,15}$' }))
}, { additionalProperties: false })
export type Customer = Static<typeof Customer>

export const ProviderReferences = Type.Object({
  externalReference: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  checkoutRequestId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  merchantRequestId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  providerReference: Type.Optional(Type.String({ minLength: 1, maxLength: 128 }))
}, { additionalProperties: false })
export type ProviderReferences = Static<typeof ProviderReferences>

/** Amounts are stored with two decimals (numeric(14,2)): anything finer would be rounded silently. */
export const MAX_AMOUNT_DECIMALS = 2

/** True when `amount` has at most `decimals` decimals (as a JSON number is written, not its binary value). */
export function hasAtMostDecimals (amount: number, decimals: number): boolean {
  return Number.isFinite(amount) && Number(amount.toFixed(decimals)) === amount
}

/**
 * How many decimals an amount in `currency` may have: its ISO 4217 minor unit (0 for JPY or UGX, 2 for
 * KES), at most MAX_AMOUNT_DECIMALS. Node's ICU knows the minor units; an unknown code gets 2.
 */
export function amountDecimalsOf (currency: string): number {
  let decimals = decimalsByCurrency.get(currency)
  if (decimals === undefined) {
    decimals = minorUnitOf(currency)
    // Bounded: at most one entry per code the validator lets through (three capital letters).
    if (decimalsByCurrency.size < 1024) decimalsByCurrency.set(currency, decimals)
  }
  return decimals
}

/** Building an Intl.NumberFormat costs far more than the rest of validating an order: once per code. */
const decimalsByCurrency = new Map<string, number>()

function minorUnitOf (currency: string): number {
  try {
    const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? MAX_AMOUNT_DECIMALS
    return Math.min(MAX_AMOUNT_DECIMALS, digits)
  } catch {
    return MAX_AMOUNT_DECIMALS
  }
}

/** An order's amount: positive, with at most two decimals, so it is never rounded to 0 or changed when stored. */
export const OrderAmount = Type.Refine(
  Type.Number({ exclusiveMinimum: 0, maximum: 1e12, description: `At most ${MAX_AMOUNT_DECIMALS} decimals, fewer for currencies with a smaller minor unit` }),
  (amount) => hasAtMostDecimals(amount, MAX_AMOUNT_DECIMALS),
  () => `must have at most ${MAX_AMOUNT_DECIMALS} decimals`
)

/** `PUT /v1/orders/:orderId`: register or update an order awaiting payment. */
export const OrderUpsertBody = Type.Object({
  orderNumber: Type.String({ minLength: 1, maxLength: 64 }),
  totalAmount: OrderAmount,
  currency: Currency,
  ticketCount: Type.Integer({ minimum: 0, maximum: 100000 }),
  customer: Customer,
  provider: PaymentProvider,
  references: ProviderReferences
}, { additionalProperties: false })
export type OrderUpsertBody = Static<typeof OrderUpsertBody>

export const PaymentDetails = Type.Object({
  provider: Type.Union([PaymentProvider, Type.Null()]),
  outcome: Type.Union([PaymentOutcome, Type.Null()]),
  resultCode: Type.Union([Type.Integer(), Type.Null()]),
  resultDesc: Type.Union([Type.String(), Type.Null()]),
  receipt: Type.Union([Type.String(), Type.Null()]),
  checkoutRequestId: Type.Union([Type.String(), Type.Null()])
})
export type PaymentDetails = Static<typeof PaymentDetails>

/** The state of one order as Herald knows it; `customer` is null when the reader may not see it. */
export const OrderSnapshot = Type.Object({
  orderId: EntityId,
  orderNumber: Type.String(),
  paymentStatus: PaymentStatus,
  status: OrderStatus,
  totalAmount: Type.Number(),
  currency: Currency,
  ticketCount: Type.Integer(),
  customer: Type.Union([Type.Object({
    email: Type.String(),
    firstName: Type.String(),
    lastName: Type.String()
  }), Type.Null()]),
  payment: PaymentDetails,
  needsReview: Type.Boolean(),
  createdAt: IsoTimestamp,
  updatedAt: IsoTimestamp,
  version: Type.Integer({ minimum: 0 })
})
export type OrderSnapshot = Static<typeof OrderSnapshot>

/** Answer to `PUT /v1/orders/:orderId`. */
export const OrderUpsertResponse = Type.Object({
  success: Type.Literal(true),
  order: OrderSnapshot,
  subscribeToken: Type.String(),
  subscribeTokenExpiresAt: IsoTimestamp
})
export type OrderUpsertResponse = Static<typeof OrderUpsertResponse>

/** `GET /api/orders/:orderId`. */
export const OrderSnapshotResponse = Type.Intersect([Type.Object({ success: Type.Literal(true) }), OrderSnapshot])
export type OrderSnapshotResponse = Static<typeof OrderSnapshotResponse>

/** `GET /api/orders/:orderId/wait`: the seed-compatible body plus `version` and `timedOut`. */
export const OrderWaitResponse = Type.Intersect([
  Type.Object({ success: Type.Literal(true), timedOut: Type.Boolean() }),
  OrderSnapshot
])
export type OrderWaitResponse = Static<typeof OrderWaitResponse>

export const OrderWaitQuery = Type.Object({
  timeout: Type.Optional(Type.Integer({ minimum: 0 })),
  since: Type.Optional(Type.Integer({ minimum: 0 })),
  token: Type.Optional(Type.String({ maxLength: 1024 }))
})
export type OrderWaitQuery = Static<typeof OrderWaitQuery>

export const OrderIdParams = Type.Object({ orderId: EntityId })
export type OrderIdParams = Static<typeof OrderIdParams>
