// Registrations: the stage and final-status events back-office producers send, and what subscribers see.
import Type, { type Static } from 'typebox'
import { EntityId, EpochMillis, IsoTimestamp } from './orders.js'

export const StageStatus = Type.Union([Type.Literal('started'), Type.Literal('completed'), Type.Literal('failed')])
export type StageStatus = Static<typeof StageStatus>

export const FinalStatus = Type.Union([
  Type.Literal('APPROVED'),
  Type.Literal('COMPLETED'),
  Type.Literal('DUPLICATE'),
  Type.Literal('FAILED'),
  Type.Literal('REJECTED')
])
export type FinalStatus = Static<typeof FinalStatus>
export const FINAL_STATUSES: readonly FinalStatus[] = ['APPROVED', 'COMPLETED', 'DUPLICATE', 'FAILED', 'REJECTED']

/** Stage names are free-form for producers (duplicate_check, core_banking_lookup, status_update …). */
export const StageName = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' })

export const Details = Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })
export type Details = Static<typeof Details>

export const ProcessLogEntry = Type.Object({
  stage: StageName,
  status: StageStatus,
  message: Type.Optional(Type.String({ maxLength: 1024 })),
  timestamp: IsoTimestamp
})
export type ProcessLogEntry = Static<typeof ProcessLogEntry>

/** The old design's message for a stage reported without one: `started: duplicate_check`. */
export function stageMessage (stage: string, status: StageStatus, message?: string): string {
  return message === undefined || message === '' ? `${status}: ${stage}` : message
}

export const RegistrationStageEventBody = Type.Object({
  type: Type.Literal('stage'),
  stage: StageName,
  status: StageStatus,
  message: Type.Optional(Type.String({ maxLength: 1024 })),
  details: Type.Optional(Details)
}, { additionalProperties: false })
export type RegistrationStageEventBody = Static<typeof RegistrationStageEventBody>

export const RegistrationFinalStatusBody = Type.Object({
  type: Type.Literal('final'),
  status: FinalStatus,
  message: Type.String({ maxLength: 1024 }),
  details: Type.Optional(Details),
  processLog: Type.Optional(Type.Array(ProcessLogEntry, { maxItems: 100 }))
}, { additionalProperties: false })
export type RegistrationFinalStatusBody = Static<typeof RegistrationFinalStatusBody>

/** `POST /v1/registrations/:registrationId/events`. */
export const RegistrationEventBody = Type.Union([RegistrationStageEventBody, RegistrationFinalStatusBody])
export type RegistrationEventBody = Static<typeof RegistrationEventBody>

export const RegistrationIdParams = Type.Object({ registrationId: EntityId })
export type RegistrationIdParams = Static<typeof RegistrationIdParams>

/**
 * One registration event as the ingest records it on the stream. For a stage event `status` is the
 * stage's status and `stage` its name; for the final verdict `status` is the final status and `stage` is
 * `final`. Subscribers never see this shape: they get it as a RegistrationUpdate.
 */
export const RegistrationChange = Type.Object({
  registrationId: EntityId,
  status: Type.Union([StageStatus, FinalStatus]),
  stage: Type.String(),
  message: Type.String(),
  timestamp: IsoTimestamp,
  details: Type.Optional(Details),
  processLog: Type.Optional(Type.Array(ProcessLogEntry))
})
export type RegistrationChange = Static<typeof RegistrationChange>

/**
 * One registration update as SSE subscribers receive it, in the old design's shape: `status` is the
 * registration's status, `PENDING` while stages run and the final status for the verdict (anything but
 * `PENDING` is final). A stage update names its `stage` and the stage's own `stageStatus`; the final
 * update has neither. `timestamp` is epoch milliseconds.
 */
export const RegistrationUpdate = Type.Object({
  registrationId: EntityId,
  status: Type.Union([Type.Literal('PENDING'), FinalStatus]),
  stage: Type.Optional(Type.String()),
  stageStatus: Type.Optional(StageStatus),
  message: Type.String(),
  timestamp: EpochMillis,
  details: Type.Optional(Details),
  processLog: Type.Optional(Type.Array(ProcessLogEntry))
})
export type RegistrationUpdate = Static<typeof RegistrationUpdate>

const isFinalStatus = (status: string): status is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(status)

/** What subscribers see of a recorded event (also of events recorded before stage messages had a default). */
export function registrationUpdateOf (change: RegistrationChange): RegistrationUpdate {
  const timestamp = Date.parse(change.timestamp)
  let update: RegistrationUpdate
  if (isFinalStatus(change.status)) {
    update = { registrationId: change.registrationId, status: change.status, message: change.message, timestamp }
    if (change.processLog !== undefined) update.processLog = change.processLog
  } else {
    update = {
      registrationId: change.registrationId,
      status: 'PENDING',
      stage: change.stage,
      stageStatus: change.status,
      message: stageMessage(change.stage, change.status, change.message),
      timestamp
    }
  }
  if (change.details !== undefined) update.details = change.details
  return update
}

export const RegistrationOverallStatus = Type.Union([Type.Literal('PENDING'), Type.Literal('PROCESSING'), FinalStatus])
export type RegistrationOverallStatus = Static<typeof RegistrationOverallStatus>

/** The current state of one registration. */
export const RegistrationSnapshot = Type.Object({
  registrationId: EntityId,
  status: RegistrationOverallStatus,
  stage: Type.String(),
  message: Type.String(),
  details: Type.Optional(Details),
  processLog: Type.Array(ProcessLogEntry),
  createdAt: IsoTimestamp,
  updatedAt: IsoTimestamp,
  version: Type.Integer({ minimum: 0 })
})
export type RegistrationSnapshot = Static<typeof RegistrationSnapshot>

/** `GET /api/registrations/:registrationId`. */
export const RegistrationSnapshotResponse = Type.Intersect([Type.Object({ success: Type.Literal(true) }), RegistrationSnapshot])
export type RegistrationSnapshotResponse = Static<typeof RegistrationSnapshotResponse>

/** Answer to `POST /v1/registrations/:registrationId/events`. */
export const RegistrationEventResponse = Type.Object({
  success: Type.Literal(true),
  registration: RegistrationSnapshot,
  duplicate: Type.Boolean(),
  subscribeToken: Type.String(),
  subscribeTokenExpiresAt: IsoTimestamp
})
export type RegistrationEventResponse = Static<typeof RegistrationEventResponse>
