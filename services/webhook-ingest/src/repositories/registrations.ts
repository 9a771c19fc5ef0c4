// Registration stage and final-status events, keyed by webhook-id, written inside the group commit.
import {
  FINAL_STATUSES, stageMessage, type FinalStatus, type ProcessLogEntry, type RegistrationEventBody, type RegistrationSnapshot,
  type RegistrationChange
} from '@herald/contracts'
import { ConflictError, UnauthorizedError } from '@herald/service-kit'
import { registrationSnapshotOf, type RegistrationRow } from '../snapshots.js'
import type { GroupCommit } from '../unit-of-work/group-commit.js'
import {
  appendOutboxCtes, appendedEventColumns, claimWebhookIdCte, run, stampedEvent, storeWebhookResponse, storedReceipt,
  type AppendedEvent
} from './transaction.js'

export interface RegistrationEventResult {
  registration: RegistrationSnapshot
  /** True for a replayed webhook-id, or the same final verdict sent again: nothing changed. */
  duplicate: boolean
}

interface StoredRegistrationAnswer { registration: RegistrationSnapshot }

const isFinal = (status: string): status is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(status)

const REGISTRATION_COLUMNS = `id, status, stage, message, details, process_log as "processLog", version,
  created_at as "createdAt", updated_at as "updatedAt"`

/**
 * Claims the webhook-id and, only if it was fresh, creates the registration or locks the existing one
 * (`do update` is what makes `on conflict` lock and return the row). No row: the webhook-id was used before.
 */
const CLAIM_AND_LOCK_REGISTRATION = `with ${claimWebhookIdCte('$1', "'registration'", '$2')}
insert into registrations as r (id) select $2 from claim
on conflict (id) do update set id = r.id
returning ${REGISTRATION_COLUMNS}`

/** The event's whole write: the registration's next version, its event record, the outbox row, the answer. */
const WRITE_REGISTRATION_EVENT = `with updated as (
    update registrations set status = $2, stage = $3, message = $4, details = $5::jsonb, process_log = $6::jsonb,
      version = $7, updated_at = $8
    where id = $1
    returning id
  ),
  recorded as (
    insert into registration_events (registration_id, version, kind, stage, status, message, details, process_log, webhook_id)
    select $1, $7, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15 from updated
  ),
  answered as (update webhook_receipts set response = $16::jsonb where webhook_id = $15),
  ${appendOutboxCtes({ type: "'registration'", id: '$1', version: '$7', payload: '$17', guard: 'updated' })}
select ${appendedEventColumns("'registration'", '$1')}`

const json = (value: unknown): string | null => value === undefined || value === null ? null : JSON.stringify(value)

export function createRegistrationRepository (unitOfWork: GroupCommit) {
  return {
    /**
     * Applies a stage event or the final verdict. A final verdict is terminal: the same verdict again is a
     * duplicate; anything else afterwards is refused with 409 and changes nothing.
     */
    recordEvent (registrationId: string, body: RegistrationEventBody, webhookId: string): Promise<RegistrationEventResult> {
      return unitOfWork.submit(async (tx, sink) => {
        const [current] = await run<RegistrationRow>(tx, 'herald_claim_registration', CLAIM_AND_LOCK_REGISTRATION, [webhookId, registrationId])
        if (current === undefined) {
          const claim = await storedReceipt(tx, webhookId)
          if (claim.entityType !== 'registration' || claim.entityId !== registrationId) throw new UnauthorizedError('webhook-id was already used for another request')
          return { registration: (claim.response as StoredRegistrationAnswer).registration, duplicate: true }
        }
        if (isFinal(current.status)) {
          if (body.type === 'final' && body.status === current.status) {
            const registration = registrationSnapshotOf(current)
            await storeWebhookResponse(tx, webhookId, { registration } satisfies StoredRegistrationAnswer)
            return { registration, duplicate: true }
          }
          throw new ConflictError(`Registration ${registrationId} already ended with ${current.status}`)
        }

        const now = new Date()
        const timestamp = now.toISOString()
        const log = (current.processLog ?? []) as ProcessLogEntry[]
        let update: RegistrationChange
        let next: Pick<RegistrationRow, 'status' | 'stage' | 'message' | 'details' | 'processLog'>
        if (body.type === 'stage') {
          const entry: ProcessLogEntry = { stage: body.stage, status: body.status, timestamp }
          if (body.message !== undefined) entry.message = body.message
          const message = stageMessage(body.stage, body.status, body.message)
          update = { registrationId, status: body.status, stage: body.stage, message, timestamp }
          if (body.details !== undefined) update.details = body.details
          next = { status: 'PROCESSING', stage: body.stage, message, details: body.details ?? current.details, processLog: [...log, entry] }
        } else {
          const processLog = body.processLog ?? log
          update = { registrationId, status: body.status, stage: 'final', message: body.message, timestamp, processLog }
          if (body.details !== undefined) update.details = body.details
          next = { status: body.status, stage: 'final', message: body.message, details: body.details ?? current.details, processLog }
        }
        // The row is locked, so its next version is known here: the snapshot is built before the write.
        const row: RegistrationRow = { ...current, ...next, version: current.version + 1, updatedAt: now }
        const registration = registrationSnapshotOf(row)
        const event = { entityType: 'registration' as const, entityId: registrationId, version: row.version, occurredAt: timestamp, update, registration }
        const [appended] = await run<AppendedEvent>(tx, 'herald_write_registration_event', WRITE_REGISTRATION_EVENT, [
          registrationId, row.status, row.stage, row.message, json(row.details), json(row.processLog), row.version, now,
          body.type, update.stage, update.status, update.message, json(body.details), body.type === 'final' ? json(update.processLog) : null, webhookId,
          JSON.stringify({ registration } satisfies StoredRegistrationAnswer), JSON.stringify(event)
        ])
        sink.add({ events: [stampedEvent(event, appended!)], waitingBefore: appended!.waitingBefore })
        return { registration, duplicate: false }
      })
    }
  }
}

export type RegistrationRepository = ReturnType<typeof createRegistrationRepository>
