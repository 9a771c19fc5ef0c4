// Registration stage and final-status events, keyed by webhook-id, set-based per group-commit batch:
// 1. claim every webhook-id of the batch and create or lock every registration a fresh one names;
// 2. the stage/final rules in TypeScript over those rows, in arrival order;
// 3. one statement writes every registration's last version, the event records, the stored answers and
//    the outbox rows, and releases the claims of requests refused with 409 (a retry is refused again).
import {
  FINAL_STATUSES, stageMessage, type FinalStatus, type ProcessLogEntry, type RegistrationEventBody, type RegistrationSnapshot,
  type RegistrationChange, type StreamEvent
} from '@herald/contracts'
import { ConflictError, UnauthorizedError, type RequestCause } from '@herald/service-kit'
import { registrationSnapshotOf, type RegistrationRow } from '../snapshots.js'
import type { EventSink, GroupCommit, SetWriter } from '../unit-of-work/group-commit.js'
import { addAppended, answeredCte, appendedEventsSelect, outboxCte, releasedCte, runSet, storedReceipts, type AppendedRow, type SetCte } from './set-writes.js'
import { causedBy, run, type Transaction } from './transaction.js'

export interface RegistrationEventResult {
  registration: RegistrationSnapshot
  /** True for a replayed webhook-id, or the same final verdict sent again: nothing changed. */
  duplicate: boolean
}

interface StoredRegistrationAnswer { registration: RegistrationSnapshot }

interface RegistrationWrite { registrationId: string, body: RegistrationEventBody, webhookId: string }

const isFinal = (status: string): status is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(status)

const REGISTRATION_COLUMNS = `id, status, stage, message, details, process_log as "processLog", version,
  created_at as "createdAt", updated_at as "updatedAt"`

/**
 * Claims the webhook-ids (a concurrent claim of one waits for its commit, then finds it taken) and
 * creates or locks the registrations the fresh ones name (`do update` is what makes `on conflict` lock
 * and return the row), in id order.
 */
const CLAIM_REGISTRATIONS = `with input as (select * from unnest($1::text[], $2::text[]) with ordinality as i(webhook_id, registration_id, ord)),
  claim as (
    insert into webhook_receipts (webhook_id, entity_type, entity_id, response)
    select webhook_id, 'registration', registration_id, '{}' from input order by ord
    on conflict do nothing
    returning webhook_id, entity_id
  ),
  locked as (
    insert into registrations as r (id) select distinct entity_id from claim order by entity_id
    on conflict (id) do update set id = r.id
    returning ${REGISTRATION_COLUMNS}
  )
select locked.*, null as "claimed" from locked
union all select null, null, null, null, null, null, null, null, null, array(select webhook_id from claim)`

/** Each registration's last state (the rows are locked). */
const updatedCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([id, status, stage, message, details, processLog, version, updatedAt]) => `updated as (
    update registrations r set status = u.status, stage = u.stage, message = u.message, details = u.details,
      process_log = u.process_log, version = u.version, updated_at = u.updated_at
    from unnest(${id}::text[], ${status}::text[], ${stage}::text[], ${message}::text[], ${details}::jsonb[], ${processLog}::jsonb[],
      ${version}::int[], ${updatedAt}::timestamptz[])
      as u(id, status, stage, message, details, process_log, version, updated_at)
    where r.id = u.id
  )`
})

/** The history of events of each registration, one row per accepted event. */
const recordedCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([id, version, kind, stage, status, message, details, processLog, webhookId]) => `recorded as (
    insert into registration_events (registration_id, version, kind, stage, status, message, details, process_log, webhook_id)
    select * from unnest(${id}::text[], ${version}::int[], ${kind}::text[], ${stage}::text[], ${status}::text[], ${message}::text[],
      ${details}::jsonb[], ${processLog}::jsonb[], ${webhookId}::text[])
  )`
})

const json = (value: unknown): string | null => value === undefined || value === null ? null : JSON.stringify(value)

type Unstamped = Omit<Extract<StreamEvent, { entityType: 'registration' }>, 'eventId'>

/** The registration's next version and event for one stage event or verdict; throws 409 past a final verdict. */
function nextOf (current: RegistrationRow, { registrationId, body }: RegistrationWrite): { row: RegistrationRow, event: Unstamped } | 'duplicate' {
  if (isFinal(current.status)) {
    if (body.type === 'final' && body.status === current.status) return 'duplicate'
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
  const row: RegistrationRow = { ...current, ...next, version: current.version + 1, updatedAt: now }
  return { row, event: { entityType: 'registration', entityId: registrationId, version: row.version, occurredAt: timestamp, update, registration: registrationSnapshotOf(row) } }
}

/** A result or the error of one request; errors settle only that request. */
type Outcome = RegistrationEventResult | Error

async function writeRegistrations (tx: Transaction, writes: readonly RegistrationWrite[], sink: EventSink, causes: ReadonlyArray<RequestCause | undefined>): Promise<Outcome[]> {
  const claimed = await run<RegistrationRow & { claimed: string[] | null }>(tx, 'herald_claim_registrations', CLAIM_REGISTRATIONS,
    [writes.map((w) => w.webhookId), writes.map((w) => w.registrationId)])
  const fresh = new Set(claimed.find((row) => row.claimed !== null)?.claimed ?? [])
  const current = new Map(claimed.filter((row) => row.claimed === null).map(({ claimed: _, ...row }) => [row.id, row as RegistrationRow]))
  const outcomes = new Array<Outcome | undefined>(writes.length)
  const answers = new Map<string, { registrationId: string, registration: RegistrationSnapshot }>()
  const released: string[] = []
  const refused = new Map<string, Error>()
  /** Fresh claims answered without error: their answers are stored for replays. */
  const answered: RegistrationWrite[] = []
  const events = new Map<string, Unstamped[]>()
  const recorded: Array<{ write: RegistrationWrite, event: Unstamped }> = []
  writes.forEach((write, i) => {
    if (!fresh.delete(write.webhookId)) return
    const row = current.get(write.registrationId)!
    try {
      const next = nextOf(row, write)
      if (next === 'duplicate') {
        outcomes[i] = { registration: registrationSnapshotOf(row), duplicate: true }
      } else {
        current.set(row.id, next.row)
        events.set(row.id, [...(events.get(row.id) ?? []), causedBy(next.event, causes[i])])
        recorded.push({ write, event: next.event })
        outcomes[i] = { registration: next.event.registration, duplicate: false }
      }
      answers.set(write.webhookId, { registrationId: row.id, registration: (outcomes[i] as RegistrationEventResult).registration })
      answered.push(write)
    } catch (err) {
      outcomes[i] = err as Error
      released.push(write.webhookId)
      refused.set(write.webhookId, err as Error)
    }
  })
  // Replays: of an earlier commit (its stored answer) or of a webhook-id first claimed in this batch.
  const replays = writes.flatMap((w, i) => outcomes[i] === undefined && !answers.has(w.webhookId) && !refused.has(w.webhookId) ? [w.webhookId] : [])
  const stored = await storedReceipts<StoredRegistrationAnswer>(tx, replays)
  for (const receipt of stored) answers.set(receipt.webhookId, { registrationId: receipt.entityType === 'registration' ? receipt.entityId : '', registration: receipt.response.registration })
  writes.forEach((write, i) => {
    if (outcomes[i] !== undefined) return
    const error = refused.get(write.webhookId)
    if (error !== undefined) {
      outcomes[i] = error
      return
    }
    const answer = answers.get(write.webhookId)
    outcomes[i] = answer === undefined || answer.registrationId !== write.registrationId
      ? new UnauthorizedError('webhook-id was already used for another request')
      : { registration: answer.registration, duplicate: true }
  })

  const rows = [...events.keys()].map((id) => current.get(id)!)
  const appended = await runSet<AppendedRow>(tx, 'herald_write_registrations', [
    updatedCte([rows.map((r) => r.id), rows.map((r) => r.status), rows.map((r) => r.stage), rows.map((r) => r.message), rows.map((r) => json(r.details)),
      rows.map((r) => json(r.processLog)), rows.map((r) => r.version), rows.map((r) => r.updatedAt)]),
    recordedCte([recorded.map((r) => r.event.entityId), recorded.map((r) => r.event.version), recorded.map((r) => r.write.body.type),
      recorded.map((r) => r.event.update.stage), recorded.map((r) => r.event.update.status), recorded.map((r) => r.event.update.message),
      recorded.map((r) => json(r.write.body.details)), recorded.map((r) => r.write.body.type === 'final' ? json(r.event.update.processLog) : null),
      recorded.map((r) => r.write.webhookId)]),
    answeredCte([answered.map((w) => w.webhookId), answered.map((w) => JSON.stringify({ registration: answers.get(w.webhookId)!.registration } satisfies StoredRegistrationAnswer))]),
    releasedCte(released),
    outboxCte('registration', events)
  ], appendedEventsSelect('registration'))
  addAppended(sink, events, appended)
  return outcomes as Outcome[]
}

const registrationWriter: SetWriter<RegistrationWrite, Outcome> = { name: 'registrations', write: writeRegistrations }

export function createRegistrationRepository (unitOfWork: GroupCommit) {
  return {
    /**
     * Applies a stage event or the final verdict. A final verdict is terminal: the same verdict again is a
     * duplicate; anything else afterwards is refused with 409 and changes nothing.
     */
    async recordEvent (registrationId: string, body: RegistrationEventBody, webhookId: string): Promise<RegistrationEventResult> {
      const outcome = await unitOfWork.submitTo(registrationWriter, { registrationId, body, webhookId })
      if (outcome instanceof Error) throw outcome
      return outcome
    }
  }
}

export type RegistrationRepository = ReturnType<typeof createRegistrationRepository>
