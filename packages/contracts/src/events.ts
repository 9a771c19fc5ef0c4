// The event envelope the ingest writes to Redis Streams and the gateway reads back.
import Type, { type Static } from 'typebox'
import { EntityId, IsoTimestamp, OrderSnapshot } from './orders.js'
import { RegistrationChange, RegistrationSnapshot } from './registrations.js'

export const EntityType = Type.Union([Type.Literal('order'), Type.Literal('registration')])
export type EntityType = Static<typeof EntityType>

const EnvelopeBase = {
  /** The outbox row id: unique per event, the idempotency key of a publish. */
  eventId: Type.String({ pattern: '^[0-9]{1,20}$' }),
  entityId: EntityId,
  /** Per-entity version, 1, 2, 3 … in commit order: SSE ids and `since` are built on it. */
  version: Type.Integer({ minimum: 1 }),
  occurredAt: IsoTimestamp,
  /** The x-request-id of the request that caused the event, for following it through both services' logs. */
  requestId: Type.Optional(Type.String({ maxLength: 128 })),
  /**
   * The W3C trace context (`traceparent`, `tracestate`) of the request that caused the event, when the
   * ingest traces: the gateway's delivery spans and the back-end webhooks continue that trace. Absent
   * when tracing is off. Never sent to browsers, like `requestId`.
   */
  traceparent: Type.Optional(Type.String({ pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' })),
  tracestate: Type.Optional(Type.String({ maxLength: 512 }))
}

export const OrderEvent = Type.Object({
  ...EnvelopeBase,
  entityType: Type.Literal('order'),
  /** The full snapshot, customer included: the gateway strips what a reader may not see. */
  order: OrderSnapshot
})
export type OrderEvent = Static<typeof OrderEvent>

export const RegistrationEvent = Type.Object({
  ...EnvelopeBase,
  entityType: Type.Literal('registration'),
  /** Recorded as is; the gateway turns it into the subscribers' RegistrationUpdate. */
  update: RegistrationChange,
  registration: RegistrationSnapshot
})
export type RegistrationEvent = Static<typeof RegistrationEvent>

export const StreamEvent = Type.Union([OrderEvent, RegistrationEvent])
export type StreamEvent = Static<typeof StreamEvent>
