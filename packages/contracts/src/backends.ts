// What Herald tells a merchant's back-end: signed outbound webhooks, the pull feed, reported outcomes.
import Type, { type Static } from 'typebox'
import { Currency, IsoTimestamp, OrderSnapshot, PaymentOutcome } from './orders.js'
import { RegistrationSnapshot } from './registrations.js'

export const BackendEventType = Type.Union([Type.Literal('order.updated'), Type.Literal('registration.updated')])
export type BackendEventType = Static<typeof BackendEventType>
export const BACKEND_EVENT_TYPES: readonly BackendEventType[] = ['order.updated', 'registration.updated']

/**
 * The body of an outbound webhook (Standard Webhooks shape). `data` is the entity's full snapshot,
 * customer included, with its `version`: a receiver keeps the highest version it has seen and drops
 * older ones, which retries and redeliveries can bring.
 */
export const BackendOrderUpdated = Type.Object({
  type: Type.Literal('order.updated'),
  /** When the change was committed. */
  timestamp: IsoTimestamp,
  data: OrderSnapshot
})
export const BackendRegistrationUpdated = Type.Object({
  type: Type.Literal('registration.updated'),
  timestamp: IsoTimestamp,
  data: RegistrationSnapshot
})
export const BackendWebhookBody = Type.Union([BackendOrderUpdated, BackendRegistrationUpdated])
export type BackendWebhookBody = Static<typeof BackendWebhookBody>

/** Outbox position: a decimal string, increasing in commit order. */
export const EventCursor = Type.String({ pattern: '^[0-9]{1,20}$' })

/** `GET /v1/events?after=&limit=`. */
export const EventFeedQuery = Type.Object({
  /** Continue after this cursor; omitted: from the oldest event still kept. */
  after: Type.Optional(EventCursor),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 }))
}, { additionalProperties: false })
export type EventFeedQuery = Static<typeof EventFeedQuery>

export const EventFeedItem = Type.Intersect([Type.Object({ cursor: EventCursor }), BackendWebhookBody])
export type EventFeedItem = Static<typeof EventFeedItem>

export const EventFeedResponse = Type.Object({
  success: Type.Literal(true),
  events: Type.Array(EventFeedItem),
  /** Pass as `after` for the next page; the same cursor again when nothing new was committed. */
  next: EventCursor,
  /** True when more events are ready now. */
  hasMore: Type.Boolean()
})
export type EventFeedResponse = Static<typeof EventFeedResponse>

/**
 * `POST /v1/orders/:orderId/outcome`: a back-end that verified a payment itself (a status query after a
 * callback that never came) reports it. Goes through the same state machine and amount check as a
 * provider callback; `amount` and `currency`, when given, must match the order.
 */
export const OrderOutcomeBody = Type.Object({
  outcome: PaymentOutcome,
  resultCode: Type.Optional(Type.Integer({ minimum: -2147483648, maximum: 2147483647 })),
  resultDesc: Type.Optional(Type.String({ maxLength: 500 })),
  receipt: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  amount: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e12 })),
  currency: Type.Optional(Currency)
}, { additionalProperties: false })
export type OrderOutcomeBody = Static<typeof OrderOutcomeBody>

export const OutcomeDisposition = Type.Union([Type.Literal('applied'), Type.Literal('duplicate')])

export const OrderOutcomeResponse = Type.Object({
  success: Type.Literal(true),
  /** `duplicate`: the order already had this outcome; nothing changed. */
  disposition: OutcomeDisposition,
  order: OrderSnapshot
})
export type OrderOutcomeResponse = Static<typeof OrderOutcomeResponse>

/** One configured back-end endpoint as the ingest sees it (admin). */
export const BackendEndpointHealth = Type.Object({
  endpointId: Type.String(),
  /** Scheme, host and path only: never credentials or a query string. */
  url: Type.String(),
  state: Type.Union([Type.Literal('healthy'), Type.Literal('failing'), Type.Literal('idle')]),
  /** Events committed and not yet taken by the endpoint (after its cursor, plus retries). */
  undelivered: Type.Integer({ minimum: 0 }),
  oldestUndeliveredAgeSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  retrying: Type.Integer({ minimum: 0 }),
  deadLettered: Type.Integer({ minimum: 0 }),
  consecutiveFailures: Type.Integer({ minimum: 0 }),
  lastSuccessAt: Type.Union([IsoTimestamp, Type.Null()]),
  lastFailureAt: Type.Union([IsoTimestamp, Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()])
})
export type BackendEndpointHealth = Static<typeof BackendEndpointHealth>

export const BackendEndpointsResponse = Type.Object({
  success: Type.Literal(true),
  endpoints: Type.Array(BackendEndpointHealth)
})
export type BackendEndpointsResponse = Static<typeof BackendEndpointsResponse>

export const DeadLetter = Type.Object({
  id: Type.String({ pattern: '^[0-9]{1,20}$' }),
  endpointId: Type.String(),
  cursor: EventCursor,
  entityType: Type.Union([Type.Literal('order'), Type.Literal('registration')]),
  entityId: Type.String(),
  attempts: Type.Integer({ minimum: 0 }),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  deadAt: IsoTimestamp,
  redeliveredAt: Type.Union([IsoTimestamp, Type.Null()])
})
export type DeadLetter = Static<typeof DeadLetter>

export const DeadLettersResponse = Type.Object({
  success: Type.Literal(true),
  deadLetters: Type.Array(DeadLetter)
})
export type DeadLettersResponse = Static<typeof DeadLettersResponse>

export const DeadLetterParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,20}$' }) })
export type DeadLetterParams = Static<typeof DeadLetterParams>

export const RedeliverResponse = Type.Object({ success: Type.Literal(true), deadLetter: DeadLetter })
export type RedeliverResponse = Static<typeof RedeliverResponse>
