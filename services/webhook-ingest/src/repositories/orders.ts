// Orders and their payment callbacks: registration, the state machine applied in one transaction, parking.
import type pg from 'pg'
import type { OrderSnapshot, OrderUpsertBody, StreamEvent, WebhookDisposition } from '@herald/contracts'
import { ConflictError, NotFoundError, UnauthorizedError, maskPersonalData } from '@herald/service-kit'
import {
  amountMatches, dedupeKeyOf, referenceLockNames, type CallbackReferences, type ProviderCallback
} from '../payments/callbacks.js'
import { decideTransition, isFinalPaymentStatus } from '../payments/state-machine.js'
import { orderSnapshotOf, type OrderRow } from '../snapshots.js'
import {
  appendOutboxCtes, appendedEventColumns, claimWebhookIdCte, inTransaction, lockReferencesSql, referenceLockKeys, run,
  stampedEvent, storeWebhookResponse, storedReceipt, type AppendedEvent, type Transaction, type UnstampedEvent
} from './transaction.js'

export type ReviewKind = 'amount_mismatch' | 'final_state_conflict'

/** Events one request committed, all of one order in version order: the relay publishes them now. */
export interface CommittedOrderEvents {
  events: StreamEvent[]
  /** Outbox ids of the order's earlier events that were still unpublished at commit. */
  waitingBefore: string[]
}

export interface CallbackResult extends CommittedOrderEvents {
  disposition: WebhookDisposition
  orderId: string | null
  reviewKind?: ReviewKind
}

export interface OrderUpsertResult extends CommittedOrderEvents {
  order: OrderSnapshot
  /** True when the webhook-id was seen before: the stored answer, nothing changed. */
  replay: boolean
  /** Parked callbacks this registration applied, with what each did. */
  applied: Array<{ provider: string, outcome: string, disposition: WebhookDisposition, reviewKind?: ReviewKind }>
}

interface StoredOrderAnswer { order: OrderSnapshot }

export interface OutcomeResult extends CommittedOrderEvents {
  disposition: WebhookDisposition
  order: OrderSnapshot
  reviewKind?: ReviewKind
  /** True when the webhook-id was seen before: the stored answer, nothing changed. */
  replay: boolean
}

/** An outcome a back-end reports: a callback without provider (the order's) and maybe without currency. */
export type ReportedOutcome = Omit<ProviderCallback, 'provider' | 'currency'> & { currency: string | null }

type StoredOutcomeAnswer = Pick<OutcomeResult, 'disposition' | 'order' | 'reviewKind'>

/** Claims the webhook-id of a reported outcome; `fresh` is false for a replay. */
const CLAIM_OUTCOME = `with ${claimWebhookIdCte('$1', "'order'", '$2')} select exists (select 1 from claim) as fresh`

/** A reported outcome is recorded like a provider callback (provider `backend`), keyed by its webhook-id. */
const RECORD_REPORTED_OUTCOME = `insert into callbacks (provider, dedupe_key, order_id, checkout_request_id, external_reference, result_code, outcome, disposition, source_ip, payload)
values ('backend', $1, $2, $3, $4, $5, $6, 'received', $7, $8::jsonb)
returning id::text as "callbackId"`

const ORDER_COLUMNS = `id, order_number as "orderNumber", total_amount as "totalAmount", currency, ticket_count as "ticketCount",
  customer_email as "customerEmail", customer_first_name as "customerFirstName", customer_last_name as "customerLastName",
  customer_phone as "customerPhone", provider, external_reference as "externalReference",
  checkout_request_id as "checkoutRequestId", merchant_request_id as "merchantRequestId",
  provider_reference as "providerReference", payment_status as "paymentStatus", status, outcome, result_code as "resultCode",
  result_desc as "resultDesc", receipt, needs_review as "needsReview", version, created_at as "createdAt", updated_at as "updatedAt"`

/** Orders matching a callback by any of its references ($1 CheckoutRequestID, $2 ours, $3 PayHero's). */
const FIND_ORDERS_FOR_UPDATE = `select ${ORDER_COLUMNS} from orders
where checkout_request_id = $1 or external_reference = $2 or provider_reference = $3
for update`

const ORDER_FOR_UPDATE = `select ${ORDER_COLUMNS} from orders where id = $1 for update`

/** Parked callbacks waiting for an order with these references ($1 checkout, $2 external, $3 provider). */
const PARKED_FOR_REFERENCES = `parked_callbacks
where applied_at is null and (checkout_request_id = $1 or external_reference = $2 or provider_reference = $3)`

/**
 * Records the callback (its dedupe key makes a repeat a no-op) and, if it is new, locks the orders its
 * references match ($9 CheckoutRequestID, $10 ours, $11 PayHero's). No row: a repeat. One row without an
 * order id: no order matched yet.
 */
const RECORD_CALLBACK = `with recorded as (
    insert into callbacks (provider, dedupe_key, checkout_request_id, external_reference, result_code, outcome, disposition, source_ip, payload)
    values ($1, $2, $3, $4, $5, $6, 'received', $7, $8::jsonb)
    on conflict do nothing
    returning id
  ),
  matched as (
    select ${ORDER_COLUMNS} from orders
    where (checkout_request_id = $9 or external_reference = $10 or provider_reference = $11) and exists (select 1 from recorded)
    for update
  )
select recorded.id::text as "callbackId", matched.* from recorded left join matched on true`

/**
 * Locks the references of a callback that matched no order, so that it cannot be parked while its order
 * is being registered: the registration holds the same locks until it commits, and then sees it parked.
 */
const LOCK_REFERENCES = `select ${lockReferencesSql('$1', 'true')} as locked`

const PARK_CALLBACK = `with parked as (
    insert into parked_callbacks (provider, callback_id, checkout_request_id, external_reference, provider_reference, payload)
    values ($1, $2::bigint, $3, $4, $5, $6::jsonb)
  )
update callbacks set disposition = 'parked' where id = $2::bigint`

/** Claims the webhook-id and, if it is fresh, locks the order's references. */
const CLAIM_AND_LOCK_ORDER = `with ${claimWebhookIdCte('$1', "'order'", '$2')}
select exists (select 1 from claim) as fresh, ${lockReferencesSql('$3', 'exists (select 1 from claim)')} as locked`

/**
 * A new order at version 1 with its event, and whether callbacks wait parked for it. When none do, the
 * answer is stored here too; an order that already exists is left alone (the caller updates it).
 */
const INSERT_ORDER = `with inserted as (
    insert into orders (id, order_number, total_amount, currency, ticket_count, customer_email, customer_first_name,
      customer_last_name, customer_phone, provider, external_reference, checkout_request_id, merchant_request_id,
      provider_reference, payment_status, status, needs_review, version, created_at, updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', 'pending', false, 1, $15, $15)
    on conflict (id) do nothing
    returning id
  ),
  waiting as (
    select exists (select 1 from parked_callbacks
      where applied_at is null and (checkout_request_id = $12 or external_reference = $11 or provider_reference = $14)) as parked
  ),
  answered as (
    update webhook_receipts set response = $18::jsonb
    where webhook_id = $17 and exists (select 1 from inserted) and not (select parked from waiting)
  ),
  ${appendOutboxCtes({ type: "'order'", id: '$1', version: '1', payload: '$16', guard: 'inserted' })}
select exists (select 1 from inserted) as inserted, (select parked from waiting) as "hasParked", ${appendedEventColumns("'order'", '$1')}`

/**
 * The order's next version (every column as computed from the locked row), its event, and what the
 * callback that caused it ($24, may be null) did.
 */
const ADVANCE_ORDER = `with updated as (
    update orders set order_number = $2, total_amount = $3, currency = $4, ticket_count = $5, customer_email = $6,
      customer_first_name = $7, customer_last_name = $8, customer_phone = $9, provider = $10, external_reference = $11,
      checkout_request_id = $12, merchant_request_id = $13, provider_reference = $14, payment_status = $15, status = $16,
      outcome = $17, result_code = $18, result_desc = $19, receipt = $20, needs_review = $21, version = $22, updated_at = $23
    where id = $1
    returning id
  ),
  disposed as (update callbacks set disposition = $25, order_id = $1 where id = $24::bigint),
  ${appendOutboxCtes({ type: "'order'", id: '$1', version: '$22', payload: '$26', guard: 'updated' })}
select ${appendedEventColumns("'order'", '$1')}`

function orderEvent (row: OrderRow): UnstampedEvent {
  const order = orderSnapshotOf(row)
  return { entityType: 'order', entityId: row.id, version: row.version, occurredAt: order.updatedAt, order }
}

/** The row's next version with `changes` applied: the order is locked, so this is what the update writes. */
function nextVersion (row: OrderRow, changes: Partial<OrderRow>): OrderRow {
  return { ...row, ...changes, version: row.version + 1, updatedAt: new Date() }
}

/** The best match when references point at several orders: CheckoutRequestID, then ours, then PayHero's. */
function bestMatch (rows: OrderRow[], references: CallbackReferences): OrderRow | undefined {
  return rows.find((r) => references.checkoutRequestId !== undefined && r.checkoutRequestId === references.checkoutRequestId) ??
    rows.find((r) => references.externalReference !== undefined && r.externalReference === references.externalReference) ??
    rows[0]
}

interface ReviewRecord {
  kind: ReviewKind
  fromStatus: string
  attemptedStatus: string
  details: Record<string, unknown>
}

/** What one callback does to a locked order: the state machine and the amount check, no I/O. */
interface CallbackVerdict {
  disposition: WebhookDisposition
  reviewKind?: ReviewKind
  review?: ReviewRecord
  /** The order's next version, when the callback changes it. */
  next?: OrderRow
}

/** Flags the order for review (a new version, so waiting clients see it) unless it already is. */
const flaggedForReview = (order: OrderRow): OrderRow | undefined => order.needsReview ? undefined : nextVersion(order, { needsReview: true })

function judgeCallback (order: OrderRow, callback: ProviderCallback): CallbackVerdict {
  if (!amountMatches(callback, order)) {
    return {
      disposition: 'review',
      reviewKind: 'amount_mismatch',
      review: {
        kind: 'amount_mismatch',
        fromStatus: order.paymentStatus,
        attemptedStatus: callback.outcome,
        details: { expected: { amount: Number(order.totalAmount), currency: order.currency }, received: { amount: callback.amount, currency: callback.currency }, provider: callback.provider }
      },
      next: flaggedForReview(order)
    }
  }
  const decision = decideTransition({ paymentStatus: order.paymentStatus as OrderSnapshot['paymentStatus'], outcome: order.outcome as OrderSnapshot['payment']['outcome'], needsReview: order.needsReview }, callback.outcome)
  if (decision.kind === 'already') return { disposition: 'duplicate' }
  if (decision.kind === 'review') {
    return {
      disposition: 'review',
      reviewKind: decision.reason,
      review: {
        kind: decision.reason,
        fromStatus: decision.from,
        attemptedStatus: decision.attempted,
        details: { provider: callback.provider, outcome: callback.outcome, resultCode: callback.resultCode, resultDesc: callback.resultDesc, receipt: callback.receipt }
      },
      next: flaggedForReview(order)
    }
  }
  const { next } = decision
  return {
    disposition: 'applied',
    next: nextVersion(order, {
      paymentStatus: next.paymentStatus,
      status: next.status,
      outcome: next.outcome,
      resultCode: callback.resultCode,
      resultDesc: callback.resultDesc,
      receipt: callback.receipt ?? order.receipt,
      needsReview: next.needsReview
    })
  }
}

/** Collects what a request appends to the outbox; the first event's view of the outbox is what the relay needs. */
function committedEvents (): CommittedOrderEvents & { add (event: UnstampedEvent, appended: AppendedEvent): void } {
  const committed = {
    events: [] as StreamEvent[],
    waitingBefore: [] as string[],
    add (event: UnstampedEvent, appended: AppendedEvent) {
      if (committed.events.length === 0) committed.waitingBefore = appended.waitingBefore
      committed.events.push(stampedEvent(event, appended))
    }
  }
  return committed
}

type EventLog = ReturnType<typeof committedEvents>

/** Writes the order's next version and its event; `cause` is the callback that made it, if any. */
async function advanceOrder (tx: Transaction, next: OrderRow, log: EventLog, cause?: { callbackId: string | null, disposition: WebhookDisposition }): Promise<void> {
  const event = orderEvent(next)
  const [appended] = await run<AppendedEvent>(tx, 'herald_advance_order', ADVANCE_ORDER, [
    next.id, next.orderNumber, next.totalAmount, next.currency, next.ticketCount, next.customerEmail, next.customerFirstName,
    next.customerLastName, next.customerPhone, next.provider, next.externalReference, next.checkoutRequestId,
    next.merchantRequestId, next.providerReference, next.paymentStatus, next.status, next.outcome, next.resultCode,
    next.resultDesc, next.receipt, next.needsReview, next.version, next.updatedAt,
    cause?.callbackId ?? null, cause?.disposition ?? null, JSON.stringify(event)
  ])
  log.add(event, appended!)
}

/** Applies one callback to a locked order and records what it did on the callback; answers the order after it. */
async function applyToOrder (tx: Transaction, order: OrderRow, callback: ProviderCallback, callbackId: string | null, log: EventLog): Promise<{ order: OrderRow, disposition: WebhookDisposition, reviewKind?: ReviewKind }> {
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

type OrderFields = Pick<OrderRow, 'orderNumber' | 'totalAmount' | 'currency' | 'ticketCount' | 'customerEmail' | 'customerFirstName' | 'customerLastName' | 'customerPhone' | 'provider'>

/**
 * Updates a registered order. References omitted from the body are kept (never cleared by accident);
 * once the payment is final its amount and currency can no longer change (409).
 */
async function updateOrder (tx: Transaction, existing: OrderRow, fields: OrderFields, body: OrderUpsertBody, log: EventLog): Promise<OrderRow> {
  const refs = body.references
  const next = {
    ...fields,
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
  const updated = nextVersion(existing, next)
  await advanceOrder(tx, updated, log)
  return updated
}

/** Applies, in arrival order, the callbacks parked for the order's references. */
async function applyParked (tx: Transaction, order: OrderRow, log: EventLog): Promise<{ order: OrderRow, applied: OrderUpsertResult['applied'] }> {
  const parked = await run<{ id: string, callbackId: string | null, payload: ProviderCallback }>(tx, 'herald_parked_for_update',
    `select id::text, callback_id::text as "callbackId", payload from ${PARKED_FOR_REFERENCES} order by id for update`,
    [order.checkoutRequestId, order.externalReference, order.providerReference])
  const applied: OrderUpsertResult['applied'] = []
  for (const item of parked) {
    const callback = item.payload
    const result = await applyToOrder(tx, order, callback, item.callbackId, log)
    order = result.order
    await run(tx, 'herald_parked_applied', 'update parked_callbacks set applied_at = now(), order_id = $2 where id = $1::bigint', [item.id, order.id])
    applied.push({ provider: callback.provider, outcome: callback.outcome, disposition: result.disposition, reviewKind: result.reviewKind })
  }
  return { order, applied }
}

export function createOrderRepository (pool: pg.Pool) {
  return {
    /**
     * Applies an outcome the order's back-end verified itself, as a provider callback for that order
     * would be: the same state machine and amount check, recorded in `callbacks`. Keyed by webhook-id
     * (a replay answers what the first call answered); an order not registered is a 404 (nothing kept).
     */
    async recordOutcome (orderId: string, reported: ReportedOutcome, rawPayload: unknown, webhookId: string, sourceIp: string): Promise<OutcomeResult> {
      return inTransaction(pool, async (tx) => {
        const [claim] = await run<{ fresh: boolean }>(tx, 'herald_claim_outcome', CLAIM_OUTCOME, [webhookId, orderId])
        if (!claim!.fresh) {
          const stored = await storedReceipt(tx, webhookId)
          if (stored.entityType !== 'order' || stored.entityId !== orderId) throw new UnauthorizedError('webhook-id was already used for another request')
          return { ...(stored.response as StoredOutcomeAnswer), replay: true, events: [], waitingBefore: [] }
        }
        const [order] = await run<OrderRow>(tx, 'herald_order_for_update', ORDER_FOR_UPDATE, [orderId])
        if (order === undefined) throw new NotFoundError(`Order ${orderId} is not registered`)
        const [recorded] = await run<{ callbackId: string }>(tx, 'herald_record_outcome', RECORD_REPORTED_OUTCOME, [
          `backend|${orderId}|${webhookId}`, orderId, order.checkoutRequestId, order.externalReference, reported.resultCode,
          reported.outcome, sourceIp, JSON.stringify(maskPersonalData(rawPayload))
        ])
        // Judged as the order's own provider's callback; no currency reported means the order's.
        const callback: ProviderCallback = { ...reported, provider: order.provider as ProviderCallback['provider'], currency: reported.currency ?? order.currency }
        const log = committedEvents()
        const result = await applyToOrder(tx, order, callback, recorded!.callbackId, log)
        const answer: StoredOutcomeAnswer = { disposition: result.disposition, order: orderSnapshotOf(result.order), reviewKind: result.reviewKind }
        await storeWebhookResponse(tx, webhookId, answer)
        return { ...answer, replay: false, events: log.events, waitingBefore: log.waitingBefore }
      })
    },

    /**
     * Records a provider callback and applies it, all in one transaction: the same callback twice is a
     * duplicate (unique dedupe key, concurrent repeats wait on it), an unknown order parks it.
     */
    async recordCallback (callback: ProviderCallback, rawPayload: unknown, sourceIp: string): Promise<CallbackResult> {
      const refs = callback.references
      return inTransaction(pool, async (tx) => {
        const recorded = await run<OrderRow & { callbackId: string }>(tx, 'herald_record_callback', RECORD_CALLBACK, [
          callback.provider, dedupeKeyOf(callback), refs.checkoutRequestId ?? null,
          refs.externalReference ?? refs.providerReference ?? null, callback.resultCode, callback.outcome, sourceIp,
          JSON.stringify(maskPersonalData(rawPayload)), refs.checkoutRequestId ?? null, refs.externalReference ?? null,
          refs.providerReference ?? null
        ])
        if (recorded.length === 0) return { disposition: 'duplicate', orderId: null, events: [], waitingBefore: [] }
        const callbackId = recorded[0]!.callbackId
        // A left join: with no order matched, the one row carries only the callback's id.
        let candidates: OrderRow[] = recorded.filter((row) => row.id !== null).map(({ callbackId: _, ...order }) => order)
        if (candidates.length === 0) {
          // No order yet: look again under the references' locks (a new statement, so a new snapshot).
          await run(tx, 'herald_lock_references', LOCK_REFERENCES, [referenceLockKeys(referenceLockNames(refs))])
          candidates = await run<OrderRow>(tx, 'herald_orders_for_callback', FIND_ORDERS_FOR_UPDATE,
            [refs.checkoutRequestId ?? null, refs.externalReference ?? null, refs.providerReference ?? null])
        }
        const order = bestMatch(candidates, refs)
        if (order === undefined) {
          await run(tx, 'herald_park_callback', PARK_CALLBACK, [
            callback.provider, callbackId, refs.checkoutRequestId ?? null, refs.externalReference ?? null,
            refs.providerReference ?? null, JSON.stringify(callback)
          ])
          return { disposition: 'parked', orderId: null, events: [], waitingBefore: [] }
        }
        const log = committedEvents()
        const result = await applyToOrder(tx, order, callback, callbackId, log)
        return { disposition: result.disposition, orderId: order.id, reviewKind: result.reviewKind, events: log.events, waitingBefore: log.waitingBefore }
      })
    },

    /**
     * Registers or updates an order awaiting payment and applies, in arrival order, the callbacks parked
     * for its references. Keyed by `webhook-id`: a replay answers what the first call answered.
     */
    async upsertOrder (orderId: string, body: OrderUpsertBody, webhookId: string): Promise<OrderUpsertResult> {
      const refs = body.references
      return inTransaction(pool, async (tx) => {
        const lockKeys = referenceLockKeys(referenceLockNames({ checkoutRequestId: refs.checkoutRequestId, externalReference: refs.externalReference, providerReference: refs.providerReference }))
        const [claim] = await run<{ fresh: boolean }>(tx, 'herald_claim_order', CLAIM_AND_LOCK_ORDER, [webhookId, orderId, lockKeys])
        if (!claim!.fresh) {
          const stored = await storedReceipt(tx, webhookId)
          if (stored.entityType !== 'order' || stored.entityId !== orderId) throw new UnauthorizedError('webhook-id was already used for another request')
          return { order: (stored.response as StoredOrderAnswer).order, replay: true, events: [], waitingBefore: [], applied: [] }
        }
        const fields: OrderFields = {
          orderNumber: body.orderNumber,
          totalAmount: body.totalAmount.toFixed(2),
          currency: body.currency,
          ticketCount: body.ticketCount,
          customerEmail: body.customer.email,
          customerFirstName: body.customer.firstName,
          customerLastName: body.customer.lastName,
          customerPhone: body.customer.phone ?? null,
          provider: body.provider
        }
        const log = committedEvents()
        const now = new Date()
        // What the insert below writes, column for column, so its event and answer go in the same statement.
        const created: OrderRow = {
          id: orderId,
          ...fields,
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
        const createdEvent = orderEvent(created)
        const [insert] = await run<AppendedEvent & { inserted: boolean, hasParked: boolean }>(tx, 'herald_insert_order', INSERT_ORDER, [
          orderId, created.orderNumber, created.totalAmount, created.currency, created.ticketCount, created.customerEmail,
          created.customerFirstName, created.customerLastName, created.customerPhone, created.provider,
          created.externalReference, created.checkoutRequestId, created.merchantRequestId, created.providerReference, now,
          JSON.stringify(createdEvent), webhookId, JSON.stringify({ order: orderSnapshotOf(created) } satisfies StoredOrderAnswer)
        ])
        let order: OrderRow
        let hasParked: boolean
        if (insert!.inserted) {
          log.add(createdEvent, insert!)
          if (!insert!.hasParked) return { order: orderSnapshotOf(created), replay: false, events: log.events, waitingBefore: log.waitingBefore, applied: [] }
          order = created
          hasParked = true
        } else {
          const [existing] = await run<OrderRow>(tx, 'herald_order_for_update', ORDER_FOR_UPDATE, [orderId])
          order = await updateOrder(tx, existing!, fields, body, log)
          const [waiting] = await run<{ parked: boolean }>(tx, 'herald_order_has_parked', `select exists (select 1 from ${PARKED_FOR_REFERENCES}) as parked`,
            [order.checkoutRequestId, order.externalReference, order.providerReference])
          hasParked = waiting!.parked
        }
        let applied: OrderUpsertResult['applied'] = []
        if (hasParked) ({ order, applied } = await applyParked(tx, order, log))
        const answer: StoredOrderAnswer = { order: orderSnapshotOf(order) }
        await storeWebhookResponse(tx, webhookId, answer)
        return { order: answer.order, replay: false, events: log.events, waitingBefore: log.waitingBefore, applied }
      })
    }
  }
}

export type OrderRepository = ReturnType<typeof createOrderRepository>
