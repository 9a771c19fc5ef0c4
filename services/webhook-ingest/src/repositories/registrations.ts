// Registration stage and final-status events: one transaction per event, keyed by webhook-id.
import { eq, sql } from 'drizzle-orm'
import {
  FINAL_STATUSES, type FinalStatus, type ProcessLogEntry, type RegistrationEventBody, type RegistrationSnapshot,
  type RegistrationUpdate, type StreamEvent
} from '@herald/contracts'
import { registrationEvents, registrations, type HeraldDatabase } from '@herald/db'
import { ConflictError, UnauthorizedError } from '@herald/service-kit'
import { registrationSnapshotOf } from '../snapshots.js'
import { appendOutbox, claimWebhookId, inTransaction, storeWebhookResponse } from './transaction.js'

export interface RegistrationEventResult {
  registration: RegistrationSnapshot
  /** True for a replayed webhook-id, or the same final verdict sent again: nothing changed. */
  duplicate: boolean
  events: StreamEvent[]
}

interface StoredRegistrationAnswer { registration: RegistrationSnapshot }

const isFinal = (status: string): status is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(status)

export function createRegistrationRepository (db: HeraldDatabase) {
  return {
    /**
     * Applies a stage event or the final verdict. A final verdict is terminal: the same verdict again is a
     * duplicate; anything else afterwards is refused with 409 and changes nothing.
     */
    async recordEvent (registrationId: string, body: RegistrationEventBody, webhookId: string): Promise<RegistrationEventResult> {
      return inTransaction(db, async (tx) => {
        const claim = await claimWebhookId(tx, webhookId, 'registration', registrationId)
        if (!claim.fresh) {
          if (claim.entityType !== 'registration' || claim.entityId !== registrationId) throw new UnauthorizedError('webhook-id was already used for another request')
          return { registration: (claim.response as StoredRegistrationAnswer).registration, duplicate: true, events: [] }
        }
        await tx.insert(registrations).values({ id: registrationId }).onConflictDoNothing()
        const [current] = await tx.select().from(registrations).where(eq(registrations.id, registrationId)).for('update')
        if (isFinal(current!.status)) {
          if (body.type === 'final' && body.status === current!.status) {
            const registration = registrationSnapshotOf(current!)
            await storeWebhookResponse(tx, webhookId, { registration } satisfies StoredRegistrationAnswer)
            return { registration, duplicate: true, events: [] }
          }
          throw new ConflictError(`Registration ${registrationId} already ended with ${current!.status}`)
        }

        const now = new Date()
        const timestamp = now.toISOString()
        const log = (current!.processLog ?? []) as ProcessLogEntry[]
        let update: RegistrationUpdate
        let next: Partial<typeof registrations.$inferInsert>
        if (body.type === 'stage') {
          const entry: ProcessLogEntry = { stage: body.stage, status: body.status, timestamp }
          if (body.message !== undefined) entry.message = body.message
          update = { registrationId, status: body.status, stage: body.stage, message: body.message ?? '', timestamp }
          if (body.details !== undefined) update.details = body.details
          next = { status: 'PROCESSING', stage: body.stage, message: body.message ?? '', details: body.details ?? current!.details, processLog: [...log, entry] }
        } else {
          const processLog = body.processLog ?? log
          update = { registrationId, status: body.status, stage: 'final', message: body.message, timestamp, processLog }
          if (body.details !== undefined) update.details = body.details
          next = { status: body.status, stage: 'final', message: body.message, details: body.details ?? current!.details, processLog }
        }
        const [row] = await tx.update(registrations)
          .set({ ...next, version: sql`${registrations.version} + 1`, updatedAt: now })
          .where(eq(registrations.id, registrationId))
          .returning()
        await tx.insert(registrationEvents).values({
          registrationId,
          version: row!.version,
          kind: body.type,
          stage: update.stage,
          status: update.status,
          message: update.message,
          details: body.details ?? null,
          processLog: body.type === 'final' ? update.processLog ?? null : null,
          webhookId
        })
        const registration = registrationSnapshotOf(row!)
        const event = await appendOutbox(tx, { entityType: 'registration', entityId: registrationId, version: row!.version, occurredAt: timestamp, update, registration })
        await storeWebhookResponse(tx, webhookId, { registration } satisfies StoredRegistrationAnswer)
        return { registration, duplicate: false, events: [event] }
      })
    }
  }
}

export type RegistrationRepository = ReturnType<typeof createRegistrationRepository>
