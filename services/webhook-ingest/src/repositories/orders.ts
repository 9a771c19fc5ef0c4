// Orders written request by request inside the group commit: registrations and updates (which apply
// the callbacks parked for them) and outcomes a back-end reports. Provider callbacks go set-based
// (callback-batch.ts).
import type { OrderSnapshot, OrderUpsertBody, WebhookDisposition } from '@herald/contracts'
import { ConflictError, NotFoundError, UnauthorizedError, maskPersonalData } from '@herald/service-kit'
import { referenceLockNames, type ProviderCallback } from '../payments/callbacks.js'
import { nextVersion, type ReviewKind } from '../payments/judge.js'
import { isFinalPaymentStatus } from '../payments/state-machine.js'
import { orderSnapshotOf, type OrderRow } from '../snapshots.js'
import type { EventSink, GroupCommit } from '../unit-of-work/group-commit.js'
import { callbackBatchWriter, type CallbackResult, type CallbackWrite } from './callback-batch.js'
import { ORDER_FOR_UPDATE, OrderEventLog, advanceOrder, applyToOrder, orderEvent, referenceMatch } from './order-writes.js'
import {
  appendOutboxCtes, appendedEventColumns, claimWebhookIdCte, lockReferencesSql, referenceLockKeys, run, storeWebhookResponse,
  storedReceipt, type AppendedEvent, type Transaction
} from './transaction.js'

export type { CallbackResult } from './callback-batch.js'

export interface OrderUpsertResult {
  order: OrderSnapshot
  /** True when the webhook-id was seen before: the stored answer, nothing changed. */
  replay: boolean
  /** Parked callbacks this registration applied, with what each did. */
  applied: Array<{ provider: string, outcome: string, disposition: WebhookDisposition, reviewKind?: ReviewKind }>
}

interface StoredOrderAnswer { order: OrderSnapshot }

export interface OutcomeResult {
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

/** Parked callbacks waiting for an order with these references ($1 checkout, $2 external, $3 provider). */
const PARKED_FOR_REFERENCES = `parked_callbacks where applied_at is null and ${referenceMatch('$1', '$2', '$3')}`

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
      where applied_at is null and ${referenceMatch('$12', '$11', '$14')}) as parked
  ),
  answered as (
    update webhook_receipts set response = $18::jsonb
    where webhook_id = $17 and exists (select 1 from inserted) and not (select parked from waiting)
  ),
  ${appendOutboxCtes({ type: "'order'", id: '$1', version: '1', payload: '$16', guard: 'inserted' })}
select exists (select 1 from inserted) as inserted, (select parked from waiting) as "hasParked", ${appendedEventColumns("'order'", '$1')}`

type OrderFields = Pick<OrderRow, 'orderNumber' | 'totalAmount' | 'currency' | 'ticketCount' | 'customerEmail' | 'customerFirstName' | 'customerLastName' | 'customerPhone' | 'provider'>

/**
 * Updates a registered order. References omitted from the body are kept (never cleared by accident);
 * once the payment is final its amount and currency can no longer change (409).
 */
async function updateOrder (tx: Transaction, existing: OrderRow, fields: OrderFields, body: OrderUpsertBody, log: OrderEventLog): Promise<OrderRow> {
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
async function applyParked (tx: Transaction, order: OrderRow, log: OrderEventLog): Promise<{ order: OrderRow, applied: OrderUpsertResult['applied'] }> {
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

interface OutcomeWrite { orderId: string, reported: ReportedOutcome, rawPayload: unknown, webhookId: string, sourceIp: string }

async function recordOutcome (tx: Transaction, sink: EventSink, { orderId, reported, rawPayload, webhookId, sourceIp }: OutcomeWrite): Promise<OutcomeResult> {
  const [claim] = await run<{ fresh: boolean }>(tx, 'herald_claim_outcome', CLAIM_OUTCOME, [webhookId, orderId])
  if (!claim!.fresh) {
    const stored = await storedReceipt(tx, webhookId)
    if (stored.entityType !== 'order' || stored.entityId !== orderId) throw new UnauthorizedError('webhook-id was already used for another request')
    return { ...(stored.response as StoredOutcomeAnswer), replay: true }
  }
  const [order] = await run<OrderRow>(tx, 'herald_order_for_update', ORDER_FOR_UPDATE, [orderId])
  if (order === undefined) throw new NotFoundError(`Order ${orderId} is not registered`)
  const [recorded] = await run<{ callbackId: string }>(tx, 'herald_record_outcome', RECORD_REPORTED_OUTCOME, [
    `backend|${orderId}|${webhookId}`, orderId, order.checkoutRequestId, order.externalReference, reported.resultCode,
    reported.outcome, sourceIp, JSON.stringify(maskPersonalData(rawPayload))
  ])
  // Judged as the order's own provider's callback; no currency reported means the order's.
  const callback: ProviderCallback = { ...reported, provider: order.provider as ProviderCallback['provider'], currency: reported.currency ?? order.currency }
  const log = new OrderEventLog()
  const result = await applyToOrder(tx, order, callback, recorded!.callbackId, log)
  const answer: StoredOutcomeAnswer = { disposition: result.disposition, order: orderSnapshotOf(result.order), reviewKind: result.reviewKind }
  await storeWebhookResponse(tx, webhookId, answer)
  log.flushTo(sink)
  return { ...answer, replay: false }
}

async function upsertOrder (tx: Transaction, sink: EventSink, orderId: string, body: OrderUpsertBody, webhookId: string): Promise<OrderUpsertResult> {
  const refs = body.references
  const lockKeys = referenceLockKeys(referenceLockNames({ checkoutRequestId: refs.checkoutRequestId, externalReference: refs.externalReference, providerReference: refs.providerReference }))
  const [claim] = await run<{ fresh: boolean }>(tx, 'herald_claim_order', CLAIM_AND_LOCK_ORDER, [webhookId, orderId, lockKeys])
  if (!claim!.fresh) {
    const stored = await storedReceipt(tx, webhookId)
    if (stored.entityType !== 'order' || stored.entityId !== orderId) throw new UnauthorizedError('webhook-id was already used for another request')
    return { order: (stored.response as StoredOrderAnswer).order, replay: true, applied: [] }
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
  const log = new OrderEventLog()
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
    if (!insert!.hasParked) {
      log.flushTo(sink)
      return { order: orderSnapshotOf(created), replay: false, applied: [] }
    }
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
  log.flushTo(sink)
  return { order: answer.order, replay: false, applied }
}

export function createOrderRepository (unitOfWork: GroupCommit) {
  const callbacks = callbackBatchWriter()
  return {
    /**
     * Records a provider callback and applies it, set-based with the batch's other callbacks: the same
     * callback twice is a duplicate (unique dedupe key), an unknown order parks it.
     */
    recordCallback (callback: ProviderCallback, rawPayload: unknown, sourceIp: string): Promise<CallbackResult> {
      const write: CallbackWrite = { callback, payload: JSON.stringify(maskPersonalData(rawPayload)), sourceIp }
      return unitOfWork.submitTo(callbacks, write)
    },

    /**
     * Applies an outcome the order's back-end verified itself, as a provider callback for that order
     * would be: the same state machine and amount check, recorded in `callbacks`. Keyed by webhook-id
     * (a replay answers what the first call answered); an order not registered is a 404 (nothing kept).
     */
    recordOutcome (orderId: string, reported: ReportedOutcome, rawPayload: unknown, webhookId: string, sourceIp: string): Promise<OutcomeResult> {
      return unitOfWork.submit((tx, sink) => recordOutcome(tx, sink, { orderId, reported, rawPayload, webhookId, sourceIp }))
    },

    /**
     * Registers or updates an order awaiting payment and applies, in arrival order, the callbacks parked
     * for its references. Keyed by `webhook-id`: a replay answers what the first call answered.
     */
    upsertOrder (orderId: string, body: OrderUpsertBody, webhookId: string): Promise<OrderUpsertResult> {
      return unitOfWork.submit((tx, sink) => upsertOrder(tx, sink, orderId, body, webhookId))
    }
  }
}

export type OrderRepository = ReturnType<typeof createOrderRepository>
