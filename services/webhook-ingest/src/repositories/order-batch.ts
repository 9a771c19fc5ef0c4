// Order registrations and updates, set-based per group-commit batch: a batch costs four statements, not
// four or more per request.
// 1. Claim every webhook-id and take the advisory locks of every order id and reference the batch names
//    (sorted; a callback and the registration of its order share a reference lock).
// 2. Lock the orders the fresh writes name, then 3. the callbacks parked for their references (a new
//    snapshot each, after the locks: a callback parked meanwhile is seen, or it sees the order).
// 4. Registration, update and parked callbacks in TypeScript over those rows, in arrival order (two
//    writes for one order apply one after the other), then one statement writes every order's last state,
//    the dispositions, the applied parked callbacks, review items, stored answers and outbox rows, and
//    releases the claims of requests refused with 409 (a retry is refused again).
import type { OrderSnapshot, OrderUpsertBody, WebhookDisposition } from '@herald/contracts'
import { ConflictError, UnauthorizedError, type RequestCause } from '@herald/service-kit'
import { referenceLockNames, type ProviderCallback } from '../payments/callbacks.js'
import { judgeCallback, nextVersion, type ReviewKind } from '../payments/judge.js'
import { isFinalPaymentStatus } from '../payments/state-machine.js'
import { orderSnapshotOf, type OrderRow } from '../snapshots.js'
import type { EventSink, SetWriter } from '../unit-of-work/group-commit.js'
import { ORDER_COLUMNS, REFERENCE_KINDS, VERSIONED, disposedCte, orderColumns, orderEvent, referenceArraysOf, referenceStatement, reviewedCte } from './order-writes.js'
import { addAppended, answeredCte, appendedEventsSelect, columns, outboxCte, releasedCte, runSet, storedReceipts, type AppendedRow, type SetCte } from './set-writes.js'
import { referenceLockKeys, run, type Transaction, type UnstampedEvent } from './transaction.js'

export interface OrderUpsertResult {
  order: OrderSnapshot
  /** True when the webhook-id was seen before: the stored answer, nothing changed. */
  replay: boolean
  /** Parked callbacks this registration applied, with what each did. */
  applied: Array<{ provider: string, outcome: string, disposition: WebhookDisposition, reviewKind?: ReviewKind }>
}

export interface OrderWrite { orderId: string, body: OrderUpsertBody, webhookId: string }

interface StoredOrderAnswer { order: OrderSnapshot }

/** A result or the error of one request; errors settle only that request. */
type Outcome = OrderUpsertResult | Error

const CLAIM_ORDERS = `with input as (select * from unnest($1::text[], $2::text[]) with ordinality as i(webhook_id, order_id, ord)),
  claim as (
    insert into webhook_receipts (webhook_id, entity_type, entity_id, response)
    select webhook_id, 'order', order_id, '{}' from input order by ord
    on conflict do nothing
    returning webhook_id
  )
select array(select webhook_id from claim) as claimed,
  (select count(pg_advisory_xact_lock(k)) from unnest($3::bigint[]) as k) as locked`

const ORDERS_BY_ID = `select ${ORDER_COLUMNS} from orders where id = any($1::text[]) order by id for update`

const parkedForReferences = (condition: string): string => `select id::text, callback_id::text as "callbackId", checkout_request_id as "checkoutRequestId",
  external_reference as "externalReference", provider_reference as "providerReference", payload
from parked_callbacks where applied_at is null and ${condition}
order by id for update`

/** Each order's last state: inserted when new, else its versioned columns updated (the row is locked). */
const writtenCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: (p) => `written as (
    insert into orders (${orderColumns.map(([, column]) => column.name).join(', ')})
    select * from unnest(${orderColumns.map(([, column], i) => `${p[i]}::${column.getSQLType()}[]`).join(', ')})
    on conflict (id) do update set ${VERSIONED.map(([, column]) => `${column.name} = excluded.${column.name}`).join(', ')}
  )`
})

/** Parked callbacks a registration applied. */
const unparkedCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([id, orderId]) => `unparked as (
    update parked_callbacks p set applied_at = now(), order_id = a.order_id
    from unnest(${id}::bigint[], ${orderId}::text[]) as a(id, order_id)
    where p.id = a.id
  )`
})

interface ParkedRow {
  id: string
  callbackId: string | null
  checkoutRequestId: string | null
  externalReference: string | null
  providerReference: string | null
  payload: ProviderCallback
}

/**
 * A batch's parked callbacks, indexed once by each reference, so that picking an order's callbacks costs
 * what it finds instead of a pass over all of them per write. A callback matches an order sharing any of
 * the three references; each is handed out once, to the first write whose order it matches.
 */
class ParkedByReference {
  readonly #rows: readonly ParkedRow[]
  /** Per reference kind, the positions in `#rows` (arrival order) of the callbacks carrying each value. */
  readonly #positions = REFERENCE_KINDS.map(() => new Map<string, number[]>())
  readonly #taken = new Set<number>()

  constructor (rows: readonly ParkedRow[]) {
    this.#rows = rows
    rows.forEach((row, position) => {
      REFERENCE_KINDS.forEach((key, k) => {
        const value = row[key]
        if (value === null) return
        const positions = this.#positions[k]!.get(value)
        if (positions === undefined) this.#positions[k]!.set(value, [position])
        else positions.push(position)
      })
    })
  }

  /** The callbacks not yet handed out that match `order`'s references, in arrival order. */
  take (order: OrderRow): ParkedRow[] {
    const found: number[] = []
    REFERENCE_KINDS.forEach((key, k) => {
      const value = order[key]
      if (value === null) return
      const positions = this.#positions[k]!.get(value)
      if (positions === undefined) return
      // Every callback listed under this value matches the order, so the list is used up here.
      this.#positions[k]!.delete(value)
      for (const position of positions) {
        if (this.#taken.has(position)) continue
        this.#taken.add(position)
        found.push(position)
      }
    })
    return found.sort((a, b) => a - b).map((position) => this.#rows[position]!)
  }
}

const distinct = (values: ReadonlyArray<string | null | undefined>): string[] => [...new Set(values.filter((v): v is string => v !== null && v !== undefined))]

/** The order a registration creates: version 1, pending. */
function createdOrder ({ orderId, body }: OrderWrite, now: Date): OrderRow {
  const refs = body.references
  return {
    id: orderId,
    ...fieldsOf(body),
    externalReference: refs.externalReference ?? null,
    checkoutRequestId: refs.checkoutRequestId ?? null,
    merchantRequestId: refs.merchantRequestId ?? null,
    providerReference: refs.providerReference ?? null,
    paymentStatus: 'pending',
    status: 'pending',
    outcome: null,
    resultCode: null,
    resultDesc: null,
    receipt: null,
    needsReview: false,
    version: 1,
    createdAt: now,
    updatedAt: now
  }
}

const fieldsOf = (body: OrderUpsertBody) => ({
  orderNumber: body.orderNumber,
  totalAmount: body.totalAmount.toFixed(2),
  currency: body.currency,
  ticketCount: body.ticketCount,
  customerEmail: body.customer.email,
  customerFirstName: body.customer.firstName,
  customerLastName: body.customer.lastName,
  customerPhone: body.customer.phone ?? null,
  provider: body.provider
})

/**
 * An update of a registered order: its next version, or the same row when nothing changed. References
 * omitted from the body are kept (never cleared by accident); once the payment is final its amount and
 * currency can no longer change (409).
 */
function updatedOrder (existing: OrderRow, body: OrderUpsertBody): OrderRow {
  const refs = body.references
  const next = {
    ...fieldsOf(body),
    externalReference: refs.externalReference ?? existing.externalReference,
    checkoutRequestId: refs.checkoutRequestId ?? existing.checkoutRequestId,
    merchantRequestId: refs.merchantRequestId ?? existing.merchantRequestId,
    providerReference: refs.providerReference ?? existing.providerReference
  }
  const changed = (Object.keys(next) as Array<keyof typeof next>).filter((key) => {
    if (key === 'totalAmount') return Math.round(Number(next.totalAmount) * 100) !== Math.round(Number(existing.totalAmount) * 100)
    return next[key] !== existing[key]
  })
  if (changed.length === 0) return existing
  if (isFinalPaymentStatus(existing.paymentStatus as OrderSnapshot['paymentStatus']) && (changed.includes('totalAmount') || changed.includes('currency'))) {
    throw new ConflictError(`Order ${existing.id} is ${existing.paymentStatus}: its amount and currency can no longer change`)
  }
  return nextVersion(existing, next)
}

async function writeOrders (tx: Transaction, writes: readonly OrderWrite[], sink: EventSink, causes: ReadonlyArray<RequestCause | undefined>): Promise<Outcome[]> {
  const lockNames = writes.flatMap((w) => [`order:${w.orderId}`, ...referenceLockNames(w.body.references)])
  const [claim] = await run<{ claimed: string[] }>(tx, 'herald_claim_orders', CLAIM_ORDERS,
    [writes.map((w) => w.webhookId), writes.map((w) => w.orderId), referenceLockKeys(lockNames)])
  const fresh = new Set(claim!.claimed)
  const freshWrites = writes.filter((w) => fresh.has(w.webhookId))
  const current = new Map<string, OrderRow>()
  let parked: ParkedRow[] = []
  if (freshWrites.length > 0) {
    const rows = await run<OrderRow>(tx, 'herald_orders_by_id', ORDERS_BY_ID, [distinct(freshWrites.map((w) => w.orderId))])
    for (const row of rows) current.set(row.id, row)
    const refs = [...freshWrites.map((w) => w.body.references), ...rows]
    const named = referenceArraysOf(refs)
    if (REFERENCE_KINDS.some((kind) => named[kind].length > 0)) {
      const statement = referenceStatement('herald_parked_for_orders', parkedForReferences, named, 1)
      parked = await run<ParkedRow>(tx, statement.name, statement.text, statement.values)
    }
  }

  const outcomes = new Array<Outcome | undefined>(writes.length)
  const now = new Date()
  const events = new Map<string, UnstampedEvent[]>()
  const inserted = new Set<string>()
  const disposed = columns(['id', 'disposition', 'orderId'] as const)
  const unparked = columns(['id', 'orderId'] as const)
  const reviews = columns(['orderId', 'kind', 'from', 'attempted', 'callbackId', 'details'] as const)
  const answers = new Map<string, { orderId: string, order: OrderSnapshot }>()
  const refused = new Map<string, Error>()
  const addEvent = (row: OrderRow, cause: RequestCause | undefined) => events.set(row.id, [...(events.get(row.id) ?? []), orderEvent(row, cause)])
  const parkedByReference = new ParkedByReference(parked)

  writes.forEach((write, i) => {
    if (!fresh.delete(write.webhookId)) return
    const existing = current.get(write.orderId)
    let order: OrderRow
    try {
      order = existing === undefined ? createdOrder(write, now) : updatedOrder(existing, write.body)
    } catch (err) {
      outcomes[i] = err as Error
      refused.set(write.webhookId, err as Error)
      return
    }
    if (existing === undefined) inserted.add(order.id)
    if (order !== existing) addEvent(order, causes[i])
    // The callbacks parked for the order's references, in arrival order.
    const applied: OrderUpsertResult['applied'] = []
    for (const item of parkedByReference.take(order)) {
      const callback = item.payload
      const verdict = judgeCallback(order, callback)
      if (verdict.review !== undefined) {
        const { kind, fromStatus, attemptedStatus, details } = verdict.review
        reviews.push({ orderId: order.id, kind, from: fromStatus, attempted: attemptedStatus, callbackId: item.callbackId, details: JSON.stringify(details) })
      }
      if (verdict.next !== undefined) {
        order = verdict.next
        addEvent(order, causes[i])
      }
      if (item.callbackId !== null) disposed.push({ id: item.callbackId, disposition: verdict.disposition, orderId: order.id })
      unparked.push({ id: item.id, orderId: order.id })
      applied.push({ provider: callback.provider, outcome: callback.outcome, disposition: verdict.disposition, reviewKind: verdict.reviewKind })
    }
    current.set(order.id, order)
    outcomes[i] = { order: orderSnapshotOf(order), replay: false, applied }
    answers.set(write.webhookId, { orderId: order.id, order: orderSnapshotOf(order) })
  })

  // Replays: of an earlier commit (its stored answer) or of a webhook-id first claimed in this batch.
  const replays = distinct(writes.flatMap((w, i) => outcomes[i] === undefined && !answers.has(w.webhookId) && !refused.has(w.webhookId) ? [w.webhookId] : []))
  for (const receipt of await storedReceipts<StoredOrderAnswer>(tx, replays)) {
    answers.set(receipt.webhookId, { orderId: receipt.entityType === 'order' ? receipt.entityId : '', order: receipt.response.order })
  }
  const answered = [...answers.entries()].filter(([webhookId]) => !replays.includes(webhookId))
  writes.forEach((write, i) => {
    if (outcomes[i] !== undefined) return
    const answer = answers.get(write.webhookId)
    outcomes[i] = refused.get(write.webhookId) ?? (answer === undefined || answer.orderId !== write.orderId
      ? new UnauthorizedError('webhook-id was already used for another request')
      : { order: answer.order, replay: true, applied: [] })
  })

  const written = [...new Set([...inserted, ...events.keys()])].map((id) => current.get(id)!)
  if (written.length === 0 && answered.length === 0 && refused.size === 0) return outcomes as Outcome[]
  const appended = await runSet<AppendedRow>(tx, 'herald_write_orders', [
    writtenCte(orderColumns.map(([key]) => written.map((row) => row[key as keyof OrderRow]))),
    disposedCte([disposed.id, disposed.disposition, disposed.orderId]),
    unparkedCte([unparked.id, unparked.orderId]),
    reviewedCte([reviews.orderId, reviews.kind, reviews.from, reviews.attempted, reviews.callbackId, reviews.details]),
    answeredCte([answered.map(([webhookId]) => webhookId), answered.map(([, { order }]) => JSON.stringify({ order } satisfies StoredOrderAnswer))]),
    releasedCte([...refused.keys()]),
    outboxCte('order', events)
  ], appendedEventsSelect('order'))
  addAppended(sink, events, appended)
  return outcomes as Outcome[]
}

/** The set writer the order repository submits registrations and updates to. */
export const orderUpsertWriter: SetWriter<OrderWrite, Outcome> = { name: 'orders', write: writeOrders }
