// What the per-request order writes share: the order's column list (from the drizzle schema), the
// reference-match condition, and writing one order version with its event.
import { getTableColumns } from 'drizzle-orm'
import { orders } from '@herald/db'
import { currentCause, type RequestCause } from '@herald/service-kit'
import type { StreamEvent, WebhookDisposition } from '@herald/contracts'
import type { CommittedEvents } from '../outbox/relay.js'
import type { EventSink } from '../unit-of-work/group-commit.js'
import { judgeCallback, type ReviewKind } from '../payments/judge.js'
import type { ProviderCallback } from '../payments/callbacks.js'
import { orderSnapshotOf, type OrderRow } from '../snapshots.js'
import type { SetCte } from './set-writes.js'
import { appendOutboxCtes, appendedEventColumns, causedBy, run, stampedEvent, type AppendedEvent, type Transaction, type UnstampedEvent } from './transaction.js'

/** The orders table's columns (drizzle schema), keyed by their OrderRow property. */
export const orderColumns = Object.entries(getTableColumns(orders))

/** The select list of a whole order row, each column under its schema property name. */
export const ORDER_COLUMNS = orderColumns.map(([key, column]) => `${column.name} as "${key}"`).join(', ')

const REFERENCE_COLUMNS = { checkoutRequestId: 'checkout_request_id', externalReference: 'external_reference', providerReference: 'provider_reference' } as const

/** The three kinds of provider reference an order or a callback may carry. */
export const REFERENCE_KINDS = Object.keys(REFERENCE_COLUMNS) as Array<keyof typeof REFERENCE_COLUMNS>

/** References of each kind a batch names. */
export type ReferenceArrays = Record<keyof typeof REFERENCE_COLUMNS, string[]>

/** The distinct references of each kind that `sources` (callbacks' references, order bodies, order rows) name. */
export function referenceArraysOf (sources: ReadonlyArray<Partial<Record<keyof ReferenceArrays, string | null>>>): ReferenceArrays {
  const of = (kind: keyof ReferenceArrays) => [...new Set(sources.flatMap((source) => source[kind] ?? []))]
  return { checkoutRequestId: of('checkoutRequestId'), externalReference: of('externalReference'), providerReference: of('providerReference') }
}

/** A statement of a batch naming references, one variant per combination of kinds named. */
export interface ReferenceStatement { name: string, text: string, values: string[][] }

/**
 * `build` given the condition matching any of the references of `refs`, over `any` of each named kind's
 * array (placeholders from `$first`), with those arrays. A kind nobody names is left out: Postgres then
 * plans one index scan per kind named, not three (an M-PESA callback names only its checkout request).
 */
export function referenceStatement (name: string, build: (condition: string) => string, refs: ReferenceArrays, first: number): ReferenceStatement {
  const kinds = REFERENCE_KINDS.filter((kind) => refs[kind].length > 0)
  const key = `${name}_${kinds.map((kind) => kind[0]).join('') || 'none'}`
  let text = referenceStatements.get(key)
  if (text === undefined) {
    text = build(kinds.length === 0 ? 'false' : `(${kinds.map((kind, i) => `${REFERENCE_COLUMNS[kind]} = any($${first + i}::text[])`).join(' or ')})`)
    referenceStatements.set(key, text)
  }
  return { name: key, text, values: kinds.map((kind) => refs[kind]) }
}

const referenceStatements = new Map<string, string>()

export const ORDER_FOR_UPDATE = `select ${ORDER_COLUMNS} from orders where id = $1 for update`

/** Every column but id and created_at, in schema order: what a new version of an order writes. */
export const VERSIONED = orderColumns.filter(([key]) => key !== 'id' && key !== 'createdAt')

/** The order's next version (every column as computed from the locked row), its event, and its cause ($n+2, may be null). */
const ADVANCE_ORDER = `with updated as (
    update orders set ${VERSIONED.map(([, column], i) => `${column.name} = $${i + 2}`).join(', ')}
    where id = $1
    returning id
  ),
  disposed as (update callbacks set disposition = $${VERSIONED.length + 3}, order_id = $1 where id = $${VERSIONED.length + 2}::bigint),
  ${appendOutboxCtes({ type: "'order'", id: '$1', version: `$${VERSIONED.findIndex(([key]) => key === 'version') + 2}`, payload: `$${VERSIONED.length + 4}`, guard: 'updated' })}
select ${appendedEventColumns("'order'", '$1')}`

/** The event of an order's new version, carrying the request that caused it (kept in the outbox row). */
export function orderEvent (row: OrderRow, cause: RequestCause | undefined = currentCause()): UnstampedEvent {
  const order = orderSnapshotOf(row)
  return causedBy({ entityType: 'order', entityId: row.id, version: row.version, occurredAt: order.updatedAt, order }, cause)
}

/** Collects the events one request appends for one order; handed to the sink once the request is done. */
export class OrderEventLog {
  readonly events: StreamEvent[] = []
  waitingBefore: string[] = []

  add (event: UnstampedEvent, appended: AppendedEvent): void {
    if (this.events.length === 0) this.waitingBefore = appended.waitingBefore
    this.events.push(stampedEvent(event, appended))
  }

  flushTo (sink: EventSink): void {
    const committed: CommittedEvents = { events: this.events, waitingBefore: this.waitingBefore }
    sink.add(committed)
  }
}

/** Writes the order's next version and its event; `cause` is the callback that made it, if any. */
export async function advanceOrder (tx: Transaction, next: OrderRow, log: OrderEventLog, cause?: { callbackId: string | null, disposition: WebhookDisposition }): Promise<void> {
  const event = orderEvent(next)
  const [appended] = await run<AppendedEvent>(tx, 'herald_advance_order', ADVANCE_ORDER, [
    next.id, ...VERSIONED.map(([key]) => next[key as keyof OrderRow]), cause?.callbackId ?? null, cause?.disposition ?? null, JSON.stringify(event)
  ])
  log.add(event, appended!)
}

/** Applies one callback to a locked order and records what it did on the callback; answers the order after it. */
export async function applyToOrder (tx: Transaction, order: OrderRow, callback: ProviderCallback, callbackId: string | null, log: OrderEventLog): Promise<{ order: OrderRow, disposition: WebhookDisposition, reviewKind?: ReviewKind }> {
  const verdict = judgeCallback(order, callback)
  if (verdict.review !== undefined) {
    const { kind, fromStatus, attemptedStatus, details } = verdict.review
    await run(tx, 'herald_insert_review',
      'insert into review_items (order_id, kind, from_status, attempted_status, callback_id, details) values ($1, $2, $3, $4, $5::bigint, $6::jsonb)',
      [order.id, kind, fromStatus, attemptedStatus, callbackId, JSON.stringify(details)])
  }
  const cause = { callbackId, disposition: verdict.disposition }
  if (verdict.next !== undefined) {
    await advanceOrder(tx, verdict.next, log, cause)
  } else if (callbackId !== null) {
    await run(tx, 'herald_dispose_callback', 'update callbacks set disposition = $2, order_id = $3 where id = $1::bigint', [callbackId, verdict.disposition, order.id])
  }
  return { order: verdict.next ?? order, disposition: verdict.disposition, reviewKind: verdict.reviewKind }
}

/** What each recorded callback did, and to which order. */
export const disposedCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([id, disposition, orderId]) => `disposed as (
    update callbacks c set disposition = d.disposition, order_id = d.order_id
    from unnest(${id}::bigint[], ${disposition}::text[], ${orderId}::text[]) as d(id, disposition, order_id)
    where c.id = d.id
  )`
})

/** Callbacks a person must look at (an amount mismatch, a regression), with why. */
export const reviewedCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([orderId, kind, from, attempted, callbackId, details]) => `reviewed as (
    insert into review_items (order_id, kind, from_status, attempted_status, callback_id, details)
    select * from unnest(${orderId}::text[], ${kind}::text[], ${from}::text[], ${attempted}::text[], ${callbackId}::bigint[], ${details}::jsonb[])
  )`
})
