// Provider callbacks, set-based: a batch of callbacks for registered orders costs two statements, not two
// per callback.
// 1. Record the callbacks (a repeated dedupe key, in the table or earlier in the batch, records nothing: a
//    duplicate) and lock the orders their references match.
// 2. Only for callbacks that matched no order: take their references' advisory locks (sorted), then look
//    again in a new snapshot: an order being registered meanwhile is either seen now or sees the callback
//    parked (its registration takes the same locks).
// 3. The state machine in TypeScript over those rows in arrival order (two callbacks for one order apply
//    one after the other), then one statement writes every order update, disposition, parked callback,
//    review item and outbox row (`unnest` of arrays).
import type { WebhookDisposition } from '@herald/contracts'
import type { RequestCause } from '@herald/service-kit'
import { dedupeKeyOf, referenceLockNames, type ProviderCallback } from '../payments/callbacks.js'
import { bestMatch, judgeCallback, type ReviewKind } from '../payments/judge.js'
import type { OrderRow } from '../snapshots.js'
import type { EventSink, SetWriter } from '../unit-of-work/group-commit.js'
import { ORDER_COLUMNS, disposedCte, orderColumns, orderEvent, referenceArraysOf, referenceStatement, reviewedCte, type ReferenceArrays } from './order-writes.js'
import { addAppended, appendedEventsSelect, columns, outboxCte, runSet, type AppendedRow, type SetCte } from './set-writes.js'
import { referenceLockKeys, run, type Transaction, type UnstampedEvent } from './transaction.js'

export interface CallbackWrite {
  callback: ProviderCallback
  /** The raw body, personal data masked, as JSON. */
  payload: string
  sourceIp: string
}

export interface CallbackResult {
  disposition: WebhookDisposition
  orderId: string | null
  reviewKind?: ReviewKind
}

/**
 * Records the batch's callbacks (a repeated dedupe key, in the table or earlier in the batch, records
 * nothing) and locks the orders their references match in this statement's snapshot: rows of either
 * kind, a callback's with `callbackId` set. An order found here exists; only a callback that finds
 * none must look again under its references' locks.
 */
const recordCallbacks = (condition: string): string => `with input as (
    select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::jsonb[])
      with ordinality as i(provider, dedupe_key, checkout_request_id, external_reference, result_code, outcome, source_ip, payload, ord)
  ),
  recorded as (
    insert into callbacks (provider, dedupe_key, checkout_request_id, external_reference, result_code, outcome, disposition, source_ip, payload)
    select provider, dedupe_key, checkout_request_id, external_reference, result_code, outcome, 'received', source_ip, payload
    from input order by ord
    on conflict do nothing
    returning id::text as "callbackId", dedupe_key as "dedupeKey"
  ),
  matched as (
    select ${ORDER_COLUMNS} from orders
    where ${condition} and exists (select 1 from recorded)
    order by id for update
  )
select "callbackId", "dedupeKey", ${orderColumns.map(([key, column]) => `null::${column.getSQLType()} as "${key}"`).join(', ')} from recorded
union all
select null, null, ${orderColumns.map(([key]) => `"${key}"`).join(', ')} from matched`

/** Takes the references' advisory locks: the next statement's snapshot holds every order registered before. */
const LOCK_REFERENCES = 'select count(pg_advisory_xact_lock(k)) from unnest($1::bigint[]) as k'

const ordersForCallbacks = (condition: string): string => `select ${ORDER_COLUMNS} from orders where ${condition} order by id for update`

/** Each order's next state after the batch's callbacks (the rows are locked). */
const advancedCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([id, paymentStatus, status, outcome, resultCode, resultDesc, receipt, needsReview, version, updatedAt]) => `advanced as (
    update orders o set payment_status = u.payment_status, status = u.status, outcome = u.outcome, result_code = u.result_code,
      result_desc = u.result_desc, receipt = u.receipt, needs_review = u.needs_review, version = u.version, updated_at = u.updated_at
    from unnest(${id}::text[], ${paymentStatus}::text[], ${status}::text[], ${outcome}::text[], ${resultCode}::int[], ${resultDesc}::text[],
      ${receipt}::text[], ${needsReview}::boolean[], ${version}::int[], ${updatedAt}::timestamptz[])
      as u(id, payment_status, status, outcome, result_code, result_desc, receipt, needs_review, version, updated_at)
    where o.id = u.id
  )`
})

const parkedCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([provider, callbackId, checkout, external, providerRef, payload]) => `parked as (
    insert into parked_callbacks (provider, callback_id, checkout_request_id, external_reference, provider_reference, payload)
    select * from unnest(${provider}::text[], ${callbackId}::bigint[], ${checkout}::text[], ${external}::text[], ${providerRef}::text[], ${payload}::jsonb[])
  )`
})

const referencesOf = (writes: readonly CallbackWrite[]): ReferenceArrays => referenceArraysOf(writes.map((w) => w.callback.references))

async function writeCallbacks (tx: Transaction, writes: readonly CallbackWrite[], sink: EventSink, causes: ReadonlyArray<RequestCause | undefined>): Promise<CallbackResult[]> {
  const results: CallbackResult[] = writes.map(() => ({ disposition: 'duplicate', orderId: null }))
  const record = referenceStatement('herald_record_callbacks', recordCallbacks, referencesOf(writes), 9)
  const rows = await run<OrderRow & { callbackId: string | null, dedupeKey: string | null }>(tx, record.name, record.text, [
    writes.map((w) => w.callback.provider),
    writes.map((w) => dedupeKeyOf(w.callback)),
    writes.map((w) => w.callback.references.checkoutRequestId ?? null),
    writes.map((w) => w.callback.references.externalReference ?? w.callback.references.providerReference ?? null),
    writes.map((w) => w.callback.resultCode),
    writes.map((w) => w.callback.outcome),
    writes.map((w) => w.sourceIp),
    writes.map((w) => w.payload),
    ...record.values
  ])
  const recorded = rows.flatMap((row) => row.callbackId === null ? [] : [{ callbackId: row.callbackId, dedupeKey: row.dedupeKey! }])
  const matched = rows.flatMap(({ callbackId, dedupeKey: _, ...order }) => callbackId === null ? [order as OrderRow] : [])
  // The first write of each recorded key is the fresh one; later ones with its key are duplicates.
  const idOfKey = new Map(recorded.map((r) => [r.dedupeKey, r.callbackId]))
  const fresh: Array<{ index: number, callbackId: string }> = []
  writes.forEach((w, index) => {
    const key = dedupeKeyOf(w.callback)
    const callbackId = idOfKey.get(key)
    if (callbackId === undefined) return
    idOfKey.delete(key)
    fresh.push({ index, callbackId })
  })
  if (fresh.length === 0) return results

  // Callbacks that found no order look again under their references' locks (a new snapshot): an order
  // registered meanwhile is seen now, or its registration sees the callback parked.
  const unmatched = fresh.map((f) => writes[f.index]!).filter((w) => bestMatch(matched, w.callback.references) === undefined)
  if (unmatched.length > 0) {
    await run(tx, 'herald_lock_references', LOCK_REFERENCES, [referenceLockKeys(unmatched.flatMap((w) => referenceLockNames(w.callback.references)))])
    const again = referenceStatement('herald_orders_for_callbacks', ordersForCallbacks, referencesOf(unmatched), 1)
    const found = await run<OrderRow>(tx, again.name, again.text, again.values)
    matched.push(...found.filter((row) => !matched.some((m) => m.id === row.id)))
  }
  /** Each order as the batch has left it so far. */
  const current = new Map(matched.map((row) => [row.id, row]))
  const events = new Map<string, UnstampedEvent[]>()
  const disposed = columns(['id', 'disposition', 'orderId'] as const)
  const parked = columns(['provider', 'callbackId', 'checkout', 'external', 'provider_ref', 'payload'] as const)
  const reviews = columns(['orderId', 'kind', 'from', 'attempted', 'callbackId', 'details'] as const)

  for (const { index, callbackId } of fresh) {
    const { callback } = writes[index]!
    const order = bestMatch([...current.values()], callback.references)
    if (order === undefined) {
      const refs = callback.references
      parked.push({ provider: callback.provider, callbackId, checkout: refs.checkoutRequestId ?? null, external: refs.externalReference ?? null, provider_ref: refs.providerReference ?? null, payload: JSON.stringify(callback) })
      disposed.push({ id: callbackId, disposition: 'parked', orderId: null })
      results[index] = { disposition: 'parked', orderId: null }
      continue
    }
    const verdict = judgeCallback(order, callback)
    if (verdict.review !== undefined) {
      const { kind, fromStatus, attemptedStatus, details } = verdict.review
      reviews.push({ orderId: order.id, kind, from: fromStatus, attempted: attemptedStatus, callbackId, details: JSON.stringify(details) })
    }
    if (verdict.next !== undefined) {
      current.set(order.id, verdict.next)
      const list = events.get(order.id) ?? []
      list.push(orderEvent(verdict.next, causes[index]))
      events.set(order.id, list)
    }
    disposed.push({ id: callbackId, disposition: verdict.disposition, orderId: order.id })
    results[index] = { disposition: verdict.disposition, orderId: order.id, reviewKind: verdict.reviewKind }
  }

  const advanced = columns(['id', 'paymentStatus', 'status', 'outcome', 'resultCode', 'resultDesc', 'receipt', 'needsReview', 'version', 'updatedAt'] as const)
  for (const id of events.keys()) advanced.push(current.get(id)! as unknown as Record<string, unknown>)
  const appended = await runSet<AppendedRow>(tx, 'herald_write_callbacks', [
    advancedCte([advanced.id, advanced.paymentStatus, advanced.status, advanced.outcome, advanced.resultCode, advanced.resultDesc,
      advanced.receipt, advanced.needsReview, advanced.version, advanced.updatedAt]),
    disposedCte([disposed.id, disposed.disposition, disposed.orderId]),
    parkedCte([parked.provider, parked.callbackId, parked.checkout, parked.external, parked.provider_ref, parked.payload]),
    reviewedCte([reviews.orderId, reviews.kind, reviews.from, reviews.attempted, reviews.callbackId, reviews.details]),
    outboxCte('order', events)
  ], appendedEventsSelect('order'))
  addAppended(sink, events, appended)
  return results
}

/** The set writer the order repository submits provider callbacks to. */
export const callbackBatchWriter = (): SetWriter<CallbackWrite, CallbackResult> => ({ name: 'callbacks', write: writeCallbacks })
