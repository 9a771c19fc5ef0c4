// Provider callbacks, set-based: a batch of callbacks costs three statements, not three per callback.
// 1. Take the advisory locks of every reference in the batch (sorted) and record the callbacks (a repeated
//    dedupe key, in the table or earlier in the batch, records nothing: a duplicate).
// 2. Lock every order the fresh callbacks' references match (a new snapshot, after the locks: an order
//    being registered meanwhile is either seen here or sees the callback parked).
// 3. The state machine in TypeScript over those rows in arrival order (two callbacks for one order apply
//    one after the other), then one statement writes every order update, disposition, parked callback,
//    review item and outbox row (`unnest` of arrays).
import type { WebhookDisposition } from '@herald/contracts'
import type { RequestCause } from '@herald/service-kit'
import { dedupeKeyOf, referenceLockNames, type ProviderCallback } from '../payments/callbacks.js'
import { bestMatch, judgeCallback, type ReviewKind } from '../payments/judge.js'
import type { OrderRow } from '../snapshots.js'
import type { EventSink, SetWriter } from '../unit-of-work/group-commit.js'
import { ORDER_COLUMNS, orderEvent, referenceMatch } from './order-writes.js'
import { addAppended, appendOutboxRowsCtes, appendedEventsSelect, columns, outboxParameters, type AppendedRow } from './set-writes.js'
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

const RECORD_CALLBACKS = `with locked as (select count(pg_advisory_xact_lock(k)) as n from unnest($9::bigint[]) as k),
  input as (
    select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::jsonb[])
      with ordinality as i(provider, dedupe_key, checkout_request_id, external_reference, result_code, outcome, source_ip, payload, ord)
  )
insert into callbacks (provider, dedupe_key, checkout_request_id, external_reference, result_code, outcome, disposition, source_ip, payload)
select provider, dedupe_key, checkout_request_id, external_reference, result_code, outcome, 'received', source_ip, payload
from input, locked order by ord
on conflict do nothing
returning id::text as "callbackId", dedupe_key as "dedupeKey"`

const ORDERS_FOR_CALLBACKS = `select ${ORDER_COLUMNS} from orders
where ${referenceMatch('any($1::text[])', 'any($2::text[])', 'any($3::text[])')}
order by id for update`

const WRITE_CALLBACKS = `with advanced as (
    update orders o set payment_status = u.payment_status, status = u.status, outcome = u.outcome, result_code = u.result_code,
      result_desc = u.result_desc, receipt = u.receipt, needs_review = u.needs_review, version = u.version, updated_at = u.updated_at
    from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::boolean[], $9::int[], $10::timestamptz[])
      as u(id, payment_status, status, outcome, result_code, result_desc, receipt, needs_review, version, updated_at)
    where o.id = u.id
  ),
  disposed as (
    update callbacks c set disposition = d.disposition, order_id = d.order_id
    from unnest($11::bigint[], $12::text[], $13::text[]) as d(id, disposition, order_id)
    where c.id = d.id
  ),
  parked as (
    insert into parked_callbacks (provider, callback_id, checkout_request_id, external_reference, provider_reference, payload)
    select * from unnest($14::text[], $15::bigint[], $16::text[], $17::text[], $18::text[], $19::jsonb[])
  ),
  reviewed as (
    insert into review_items (order_id, kind, from_status, attempted_status, callback_id, details)
    select * from unnest($20::text[], $21::text[], $22::text[], $23::text[], $24::bigint[], $25::jsonb[])
  ),
  ${appendOutboxRowsCtes('order', { ids: '$26', versions: '$27', payloads: '$28' })}
${appendedEventsSelect('order')}`

const refsOf = (writes: readonly CallbackWrite[], key: 'checkoutRequestId' | 'externalReference' | 'providerReference'): string[] =>
  [...new Set(writes.flatMap((w) => w.callback.references[key] ?? []))]

async function writeCallbacks (tx: Transaction, writes: readonly CallbackWrite[], sink: EventSink, causes: ReadonlyArray<RequestCause | undefined>): Promise<CallbackResult[]> {
  const results: CallbackResult[] = writes.map(() => ({ disposition: 'duplicate', orderId: null }))
  const recorded = await run<{ callbackId: string, dedupeKey: string }>(tx, 'herald_record_callbacks', RECORD_CALLBACKS, [
    writes.map((w) => w.callback.provider),
    writes.map((w) => dedupeKeyOf(w.callback)),
    writes.map((w) => w.callback.references.checkoutRequestId ?? null),
    writes.map((w) => w.callback.references.externalReference ?? w.callback.references.providerReference ?? null),
    writes.map((w) => w.callback.resultCode),
    writes.map((w) => w.callback.outcome),
    writes.map((w) => w.sourceIp),
    writes.map((w) => w.payload),
    referenceLockKeys(writes.flatMap((w) => referenceLockNames(w.callback.references)))
  ])
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

  const freshWrites = fresh.map((f) => writes[f.index]!)
  const rows = await run<OrderRow>(tx, 'herald_orders_for_callbacks', ORDERS_FOR_CALLBACKS, [
    refsOf(freshWrites, 'checkoutRequestId'), refsOf(freshWrites, 'externalReference'), refsOf(freshWrites, 'providerReference')
  ])
  /** Each order as the batch has left it so far. */
  const current = new Map(rows.map((row) => [row.id, row]))
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
  const appended = await run<AppendedRow>(tx, 'herald_write_callbacks', WRITE_CALLBACKS, [
    advanced.id, advanced.paymentStatus, advanced.status, advanced.outcome, advanced.resultCode, advanced.resultDesc, advanced.receipt,
    advanced.needsReview, advanced.version, advanced.updatedAt,
    disposed.id, disposed.disposition, disposed.orderId,
    parked.provider, parked.callbackId, parked.checkout, parked.external, parked.provider_ref, parked.payload,
    reviews.orderId, reviews.kind, reviews.from, reviews.attempted, reviews.callbackId, reviews.details,
    ...outboxParameters(events)
  ])
  addAppended(sink, events, appended)
  return results
}

/** The set writer the order repository submits provider callbacks to. */
export const callbackBatchWriter = (): SetWriter<CallbackWrite, CallbackResult> => ({ name: 'callbacks', write: writeCallbacks })
