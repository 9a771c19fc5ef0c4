// Payment-provider callback bodies as the providers send them (see test/fixtures).
import Type, { type Static } from 'typebox'

const Text = (maxLength = 256) => Type.String({ maxLength })
/** Provider result codes are small integers; the bound keeps them inside Postgres' 32-bit integer. */
const ResultCode = () => Type.Integer({ minimum: -2147483648, maximum: 2147483647 })
/** Larger than any real payment, small enough for the stored amount (numeric(14,2)). */
const Amount = () => Type.Number({ minimum: 0, maximum: 1e12 })

/** PayHero v2 (`/api/v2/payments` callback): top-level `status` is a boolean, `response.Status` a string. */
export const PayHeroV2Callback = Type.Object({
  forward_url: Type.Optional(Type.Union([Text(2048), Type.Null()])),
  status: Type.Boolean(),
  response: Type.Object({
    Amount: Amount(),
    CheckoutRequestID: Text(128),
    ExternalReference: Type.Optional(Text(128)),
    MerchantRequestID: Type.Optional(Text(128)),
    MpesaReceiptNumber: Type.Optional(Text(64)),
    Phone: Type.Optional(Text(32)),
    ResultCode: ResultCode(),
    ResultDesc: Text(512),
    Status: Text(64)
  })
})
export type PayHeroV2Callback = Static<typeof PayHeroV2Callback>

/** PayHero Africa transaction callback: a flat object keyed by `reference` / `external_reference`. */
export const PayHeroAfricaCallback = Type.Object({
  success: Type.Boolean(),
  status: Text(64),
  message: Type.Optional(Text(512)),
  reference: Text(128),
  external_reference: Type.Optional(Text(128)),
  amount: Amount(),
  currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$' })),
  transaction_id: Type.Optional(Text(128)),
  transaction_date: Type.Optional(Text(64)),
  transaction_type: Type.Optional(Text(64)),
  provider_reference: Type.Optional(Text(128)),
  provider: Type.Optional(Text(64)),
  result_code: Type.Optional(ResultCode()),
  callback_urls: Type.Optional(Type.Unknown())
})
export type PayHeroAfricaCallback = Static<typeof PayHeroAfricaCallback>

export const PayHeroCallback = Type.Union([PayHeroV2Callback, PayHeroAfricaCallback])
export type PayHeroCallback = Static<typeof PayHeroCallback>

export const DarajaMetadataItem = Type.Object({
  Name: Text(64),
  Value: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Number()]))
})

/** Safaricom Daraja STK push result callback. Daraja does not echo AccountReference: match on CheckoutRequestID. */
export const DarajaStkCallback = Type.Object({
  Body: Type.Object({
    stkCallback: Type.Object({
      MerchantRequestID: Text(128),
      CheckoutRequestID: Text(128),
      ResultCode: ResultCode(),
      ResultDesc: Text(512),
      CallbackMetadata: Type.Optional(Type.Object({
        Item: Type.Array(DarajaMetadataItem, { maxItems: 32 })
      }))
    })
  })
})
export type DarajaStkCallback = Static<typeof DarajaStkCallback>

/** What Daraja expects back from a callback URL. */
export const DarajaAck = Type.Object({
  ResultCode: Type.Literal(0),
  ResultDesc: Type.Literal('Accepted')
})
export type DarajaAck = Static<typeof DarajaAck>

export const WebhookDisposition = Type.Union([
  Type.Literal('applied'),
  Type.Literal('duplicate'),
  Type.Literal('parked'),
  Type.Literal('review')
])
export type WebhookDisposition = Static<typeof WebhookDisposition>

/** What Herald answers a PayHero callback with. */
export const PayHeroAck = Type.Object({
  success: Type.Literal(true),
  disposition: WebhookDisposition
})
export type PayHeroAck = Static<typeof PayHeroAck>
