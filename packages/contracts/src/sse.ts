// Server-Sent Events messages, each sent as one `data:` JSON line; every one carries `timestamp` in epoch ms.
import Type, { type Static } from 'typebox'
import { EpochMillis, OrderSnapshot } from './orders.js'
import { RegistrationSnapshot, RegistrationUpdate } from './registrations.js'

export const SseConnected = Type.Object({ type: Type.Literal('connected'), timestamp: EpochMillis })
export type SseConnected = Static<typeof SseConnected>

export const SsePing = Type.Object({ type: Type.Literal('ping'), timestamp: EpochMillis })
export type SsePing = Static<typeof SsePing>

export const ResetReason = Type.Union([
  Type.Literal('retention'),
  Type.Literal('malformed_id'),
  Type.Literal('unknown_id')
])
export type ResetReason = Static<typeof ResetReason>

/** The server is going away (shutdown or lost Redis): reconnect after `retryMs` and resume. */
export const SseClosing = Type.Object({
  type: Type.Literal('closing'),
  reason: Type.String(),
  retryMs: Type.Integer({ minimum: 0 }),
  timestamp: EpochMillis
})
export type SseClosing = Static<typeof SseClosing>

export const RegistrationSseUpdate = Type.Object({ type: Type.Literal('update'), data: RegistrationUpdate, timestamp: EpochMillis })
export type RegistrationSseUpdate = Static<typeof RegistrationSseUpdate>

/** Replay was impossible (id older than retention, or malformed): here is the current state instead. */
export const RegistrationSseReset = Type.Object({
  type: Type.Literal('reset'),
  reason: ResetReason,
  data: Type.Union([RegistrationSnapshot, Type.Null()]),
  timestamp: EpochMillis
})
export type RegistrationSseReset = Static<typeof RegistrationSseReset>

export const RegistrationSseMessage = Type.Union([SseConnected, SsePing, SseClosing, RegistrationSseUpdate, RegistrationSseReset])
export type RegistrationSseMessage = Static<typeof RegistrationSseMessage>

/** `timestamp`: when the change happened (the snapshot keeps its ISO `createdAt` and `updatedAt`). */
export const OrderSseUpdate = Type.Object({ type: Type.Literal('update'), data: OrderSnapshot, timestamp: EpochMillis })
export type OrderSseUpdate = Static<typeof OrderSseUpdate>

export const OrderSseReset = Type.Object({
  type: Type.Literal('reset'),
  reason: ResetReason,
  data: Type.Union([OrderSnapshot, Type.Null()]),
  timestamp: EpochMillis
})
export type OrderSseReset = Static<typeof OrderSseReset>

export const OrderSseMessage = Type.Union([SseConnected, SsePing, SseClosing, OrderSseUpdate, OrderSseReset])
export type OrderSseMessage = Static<typeof OrderSseMessage>

export const RegistrationStreamQuery = Type.Object({
  registrationId: Type.Optional(Type.String({ maxLength: 128 })),
  lastEventId: Type.Optional(Type.String({ maxLength: 128 })),
  token: Type.Optional(Type.String({ maxLength: 1024 }))
})
export type RegistrationStreamQuery = Static<typeof RegistrationStreamQuery>

export const OrderEventsQuery = Type.Object({
  lastEventId: Type.Optional(Type.String({ maxLength: 128 })),
  token: Type.Optional(Type.String({ maxLength: 1024 }))
})
export type OrderEventsQuery = Static<typeof OrderEventsQuery>
