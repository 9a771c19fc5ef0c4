// The order repository: provider callbacks (set-based, callback-batch.ts), registrations and updates
// (set-based, order-batch.ts), and outcomes a back-end reports (rare: written request by request inside
// the group commit).
import type { OrderSnapshot, OrderUpsertBody, WebhookDisposition } from '@herald/contracts'
import { NotFoundError, UnauthorizedError, maskPersonalData } from '@herald/service-kit'
import type { ProviderCallback } from '../payments/callbacks.js'
import type { ReviewKind } from '../payments/judge.js'
import { orderSnapshotOf, type OrderRow } from '../snapshots.js'
import type { EventSink, GroupCommit } from '../unit-of-work/group-commit.js'
import { callbackBatchWriter, type CallbackResult, type CallbackWrite } from './callback-batch.js'
import { orderUpsertWriter, type OrderUpsertResult } from './order-batch.js'
import { ORDER_FOR_UPDATE, OrderEventLog, applyToOrder } from './order-writes.js'
import { claimWebhookIdCte, run, storeWebhookResponse, storedReceipt, type Transaction } from './transaction.js'

export type { CallbackResult } from './callback-batch.js'
export type { OrderUpsertResult } from './order-batch.js'

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
    async upsertOrder (orderId: string, body: OrderUpsertBody, webhookId: string): Promise<OrderUpsertResult> {
      const outcome = await unitOfWork.submitTo(orderUpsertWriter, { orderId, body, webhookId })
      if (outcome instanceof Error) throw outcome
      return outcome
    }
  }
}

export type OrderRepository = ReturnType<typeof createOrderRepository>
