// What every write of the ingest shares: advisory locks on references, outbox rows, receipts, error mapping.
//
// The hot path talks to pg directly with named prepared statements (parsed and planned once per
// connection) and folds each step's writes into one statement with data-modifying CTEs: every statement
// is a round trip that costs this process more CPU than the work it carries.
import { createHash } from 'node:crypto'
import type pg from 'pg'
import type { StreamEvent } from '@herald/contracts'
import { isDatabaseUnavailable } from '@herald/db'
import { ConflictError, UnavailableError, type RequestCause } from '@herald/service-kit'

/** A pooled connection inside `begin … commit`. */
export type Transaction = pg.PoolClient

function uniqueViolation (err: unknown, depth = 0): string | null {
  if (err === null || typeof err !== 'object' || depth > 5) return null
  const { code, constraint, cause } = err as { code?: unknown, constraint?: unknown, cause?: unknown }
  if (code === '23505') return typeof constraint === 'string' ? constraint : ''
  return uniqueViolation(cause, depth + 1)
}

/** What a failed write answers: Postgres unreachable is 503, a reference owned by another order 409. */
export function ingestErrorOf (err: unknown): unknown {
  if (isDatabaseUnavailable(err)) return new UnavailableError('Database unavailable, nothing was recorded; retry later')
  const constraint = uniqueViolation(err)
  if (constraint !== null && constraint.startsWith('orders_')) {
    return new ConflictError(`A provider reference of this order already belongs to another order (${constraint})`)
  }
  return err
}

const connectionSerials = new WeakMap<pg.PoolClient, number>()
let lastConnectionSerial = 0

/**
 * The statement's name on this connection. pg remembers per connection which names it has parsed, and
 * Postgres keeps them per backend; the embedded PGlite (`pnpm start`) is one backend behind every
 * connection, where a second connection parsing the same name fails with "already exists". A name per
 * connection works on both.
 */
function statementName (tx: Transaction, name: string): string {
  let serial = connectionSerials.get(tx)
  if (serial === undefined) {
    serial = ++lastConnectionSerial
    connectionSerials.set(tx, serial)
  }
  return `${name}_${serial}`
}

/** Runs a named prepared statement: parsed and planned once per connection, then only bound and executed. */
export async function run<R extends pg.QueryResultRow> (tx: Transaction, name: string, text: string, values: unknown[]): Promise<R[]> {
  return (await tx.query<R>({ name: statementName(tx, name), text, values })).rows
}

/**
 * Advisory-lock keys of the references, sorted: taking them in one global order means two transactions
 * never wait on each other in a cycle. A callback and the registration of its order share at least one.
 */
export function referenceLockKeys (names: readonly string[]): string[] {
  const keys = [...new Set(names.map((name) => BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(name).digest('hex').slice(0, 16)}`))))]
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return keys.map(String)
}

export type UnstampedEvent = StreamEvent extends infer E ? E extends StreamEvent ? Omit<E, 'eventId'> : never : never

/** What appending an event to the outbox answers: its id, and what of its entity was still unpublished. */
export interface AppendedEvent {
  eventId: string
  /** Outbox ids of earlier versions of the entity not yet published when this one was written. */
  waitingBefore: string[]
}

/**
 * A CTE recording outbox rows as pending (not yet published) in the statement that appends them, so
 * that the sweep finds every row whose publish fails, whatever order the transactions commit in. `from`
 * is a CTE or subquery with the new rows' ids as `n`; `type` and `entityId` are SQL expressions over it.
 */
export const pendingCte = (from: string, type: string, entityId: string): string =>
  `pending as (insert into outbox_pending (id, entity_type, entity_id) select n, ${type}, ${entityId} from ${from})`

/**
 * The select-list column answering `waitingBefore`: the outbox ids of the entity still pending, from the
 * statement's snapshot (the entity's row lock was taken by an earlier statement, so every earlier version
 * committed is in it; it cannot see its own rows). The relay publishes at once only when none is waiting.
 */
export const waitingBeforeColumn = (type: string, entityId: string): string =>
  `array(select p.id::text from outbox_pending p where p.entity_type = ${type} and p.entity_id = ${entityId} order by p.id limit 16) as "waitingBefore"`

/**
 * CTEs appending an event to the outbox (its `eventId`, inside the payload too, is the new row's id),
 * pending, for statements that write the state change and its event together. `$type`, `$id`, `$version`
 * and `$payload` are parameter placeholders; `guard` is a CTE that must return a row for the event to be
 * written (the state change itself), so a change that did not happen writes no event.
 */
export function appendOutboxCtes (p: { type: string, id: string, version: string, payload: string, guard: string }): string {
  return `stamped as (select nextval(pg_get_serial_sequence('outbox', 'id')) as n from ${p.guard}),
  appended as (
    insert into outbox (id, entity_type, entity_id, version, payload)
    select n, ${p.type}, ${p.id}, ${p.version}, jsonb_set(${p.payload}::jsonb, '{eventId}', to_jsonb(n::text))
    from stamped
    returning id
  ),
  ${pendingCte('stamped', p.type, p.id)}`
}

/** Select-list columns answering an `AppendedEvent`. */
export const appendedEventColumns = (type: string, id: string): string =>
  `(select id::text from appended) as "eventId",
  ${waitingBeforeColumn(type, id)}`

/** The event as caused by the request `cause`: its id, and its trace context when traced (none: as is). */
export function causedBy<E extends UnstampedEvent> (event: E, cause: RequestCause | undefined): E {
  return cause === undefined ? event : { ...event, ...cause }
}

export function stampedEvent (event: UnstampedEvent, appended: AppendedEvent): StreamEvent {
  return { ...event, eventId: appended.eventId } as StreamEvent
}

export interface StoredReceipt { entityType: string, entityId: string, response: unknown }

/**
 * A `webhook-id` claimed before (a concurrent claim waited for it to commit): what it was for and what
 * it was answered.
 */
export async function storedReceipt (tx: Transaction, webhookId: string): Promise<StoredReceipt> {
  const [stored] = await run<StoredReceipt>(tx, 'herald_stored_receipt',
    'select entity_type as "entityType", entity_id as "entityId", response from webhook_receipts where webhook_id = $1',
    [webhookId])
  return stored!
}

export async function storeWebhookResponse (tx: Transaction, webhookId: string, response: unknown): Promise<void> {
  await run(tx, 'herald_store_receipt', 'update webhook_receipts set response = $2 where webhook_id = $1', [webhookId, JSON.stringify(response)])
}

/**
 * SQL claiming the `webhook-id` `$webhookId` for this transaction, as the first CTE `claim` of a statement.
 * A concurrent claim of the same id waits for this one to commit and then finds nothing to insert (a
 * replay); a rollback releases it. The answer is stored later, by `storeWebhookResponse` or a CTE.
 */
export const claimWebhookIdCte = (webhookId: string, entityType: string, entityId: string): string =>
  `claim as (
    insert into webhook_receipts (webhook_id, entity_type, entity_id, response) values (${webhookId}, ${entityType}, ${entityId}, '{}')
    on conflict do nothing
    returning webhook_id
  )`
