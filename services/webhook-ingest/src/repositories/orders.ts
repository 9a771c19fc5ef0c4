// Orders and their payment callbacks: registration, the state machine applied in one transaction, parking.
import { and, asc, eq, isNull, or, sql, type SQL } from 'drizzle-orm'
import type { OrderSnapshot, OrderUpsertBody, StreamEvent, WebhookDisposition } from '@herald/contracts'
import { callbacks, orders, parkedCallbacks, reviewItems, type HeraldDatabase } from '@herald/db'
import { ConflictError, UnauthorizedError, maskPersonalData } from '@herald/service-kit'
import {
  amountMatches, dedupeKeyOf, referenceLockNames, type CallbackReferences, type ProviderCallback
} from '../payments/callbacks.js'
import { decideTransition, isFinalPaymentStatus } from '../payments/state-machine.js'
import { orderSnapshotOf, type OrderRow } from '../snapshots.js'
import {
  appendOutbox, claimWebhookId, inTransaction, lockReferences, storeWebhookResponse, type Transaction
} from './transaction.js'

export type ReviewKind = 'amount_mismatch' | 'final_state_conflict'

export interface CallbackResult {
  disposition: WebhookDisposition
  orderId: string | null
  reviewKind?: ReviewKind
  /** Outbox events committed by this request, in version order: publish them now. */
  events: StreamEvent[]
}

export interface OrderUpsertResult {
  order: OrderSnapshot
  /** True when the webhook-id was seen before: the stored answer, nothing changed. */
  replay: boolean
  events: StreamEvent[]
  /** Parked callbacks this registration applied, with what each did. */
  applied: Array<{ provider: string, outcome: string, disposition: WebhookDisposition, reviewKind?: ReviewKind }>
}

interface StoredOrderAnswer { order: OrderSnapshot }

function orderEvent (row: OrderRow): Omit<StreamEvent & { entityType: 'order' }, 'eventId'> {
  const order = orderSnapshotOf(row)
  return { entityType: 'order', entityId: row.id, version: row.version, occurredAt: order.updatedAt, order }
}

/** Conditions matching an order by any of the callback's references. */
function referenceConditions (references: CallbackReferences): SQL[] {
  const conditions: SQL[] = []
  if (references.checkoutRequestId !== undefined) conditions.push(eq(orders.checkoutRequestId, references.checkoutRequestId))
  if (references.externalReference !== undefined) conditions.push(eq(orders.externalReference, references.externalReference))
  if (references.providerReference !== undefined) conditions.push(eq(orders.providerReference, references.providerReference))
  return conditions
}

/** The best match when references point at several orders: CheckoutRequestID, then ours, then PayHero's. */
function bestMatch (rows: OrderRow[], references: CallbackReferences): OrderRow | undefined {
  return rows.find((r) => references.checkoutRequestId !== undefined && r.checkoutRequestId === references.checkoutRequestId) ??
    rows.find((r) => references.externalReference !== undefined && r.externalReference === references.externalReference) ??
    rows[0]
}

export function createOrderRepository (db: HeraldDatabase) {
  /** Flags the order for review (a new version, so waiting clients see it) unless it already is. */
  async function flagForReview (tx: Transaction, order: OrderRow, events: StreamEvent[]): Promise<OrderRow> {
    if (order.needsReview) return order
    const [flagged] = await tx.update(orders)
      .set({ needsReview: true, version: sql`${orders.version} + 1`, updatedAt: sql`now()` })
      .where(eq(orders.id, order.id))
      .returning()
    events.push(await appendOutbox(tx, orderEvent(flagged!)))
    return flagged!
  }

  /** Applies one callback to a locked order: the state machine, the amount check, the review trail. */
  async function applyToOrder (tx: Transaction, order: OrderRow, callback: ProviderCallback, callbackId: bigint | null, events: StreamEvent[]): Promise<{ order: OrderRow, disposition: WebhookDisposition, reviewKind?: ReviewKind }> {
    if (!amountMatches(callback, order)) {
      await tx.insert(reviewItems).values({
        orderId: order.id,
        kind: 'amount_mismatch',
        fromStatus: order.paymentStatus,
        attemptedStatus: callback.outcome,
        callbackId,
        details: { expected: { amount: Number(order.totalAmount), currency: order.currency }, received: { amount: callback.amount, currency: callback.currency }, provider: callback.provider }
      })
      return { order: await flagForReview(tx, order, events), disposition: 'review', reviewKind: 'amount_mismatch' }
    }
    const decision = decideTransition({ paymentStatus: order.paymentStatus as OrderSnapshot['paymentStatus'], outcome: order.outcome as OrderSnapshot['payment']['outcome'], needsReview: order.needsReview }, callback.outcome)
    if (decision.kind === 'already') return { order, disposition: 'duplicate' }
    if (decision.kind === 'review') {
      await tx.insert(reviewItems).values({
        orderId: order.id,
        kind: decision.reason,
        fromStatus: decision.from,
        attemptedStatus: decision.attempted,
        callbackId,
        details: { provider: callback.provider, outcome: callback.outcome, resultCode: callback.resultCode, resultDesc: callback.resultDesc, receipt: callback.receipt }
      })
      return { order: await flagForReview(tx, order, events), disposition: 'review', reviewKind: decision.reason }
    }
    const { next } = decision
    const [updated] = await tx.update(orders)
      .set({
        paymentStatus: next.paymentStatus,
        status: next.status,
        outcome: next.outcome,
        resultCode: callback.resultCode,
        resultDesc: callback.resultDesc,
        receipt: callback.receipt ?? order.receipt,
        needsReview: next.needsReview,
        version: sql`${orders.version} + 1`,
        updatedAt: sql`now()`
      })
      .where(eq(orders.id, order.id))
      .returning()
    events.push(await appendOutbox(tx, orderEvent(updated!)))
    return { order: updated!, disposition: 'applied' }
  }

  return {
    /**
     * Records a provider callback and applies it, all in one transaction: the same callback twice is a
     * duplicate (unique dedupe key, concurrent repeats wait on it), an unknown order parks it.
     */
    async recordCallback (callback: ProviderCallback, rawPayload: unknown, sourceIp: string): Promise<CallbackResult> {
      return inTransaction(db, async (tx) => {
        const [record] = await tx.insert(callbacks).values({
          provider: callback.provider,
          dedupeKey: dedupeKeyOf(callback),
          checkoutRequestId: callback.references.checkoutRequestId ?? null,
          externalReference: callback.references.externalReference ?? callback.references.providerReference ?? null,
          resultCode: callback.resultCode,
          outcome: callback.outcome,
          disposition: 'received',
          sourceIp,
          payload: maskPersonalData(rawPayload)
        }).onConflictDoNothing().returning({ id: callbacks.id })
        if (record === undefined) return { disposition: 'duplicate', orderId: null, events: [] }

        await lockReferences(tx, referenceLockNames(callback.references))
        const candidates = await tx.select().from(orders).where(or(...referenceConditions(callback.references))).for('update')
        const order = bestMatch(candidates, callback.references)
        if (order === undefined) {
          await tx.insert(parkedCallbacks).values({
            provider: callback.provider,
            callbackId: record.id,
            checkoutRequestId: callback.references.checkoutRequestId ?? null,
            externalReference: callback.references.externalReference ?? null,
            providerReference: callback.references.providerReference ?? null,
            payload: callback
          })
          await tx.update(callbacks).set({ disposition: 'parked' }).where(eq(callbacks.id, record.id))
          return { disposition: 'parked', orderId: null, events: [] }
        }
        const events: StreamEvent[] = []
        const result = await applyToOrder(tx, order, callback, record.id, events)
        await tx.update(callbacks).set({ disposition: result.disposition, orderId: order.id }).where(eq(callbacks.id, record.id))
        return { disposition: result.disposition, orderId: order.id, reviewKind: result.reviewKind, events }
      })
    },

    /**
     * Registers or updates an order awaiting payment and applies, in arrival order, the callbacks parked
     * for its references. Keyed by `webhook-id`: a replay answers what the first call answered.
     */
    async upsertOrder (orderId: string, body: OrderUpsertBody, webhookId: string): Promise<OrderUpsertResult> {
      return inTransaction(db, async (tx) => {
        const claim = await claimWebhookId(tx, webhookId, 'order', orderId)
        if (!claim.fresh) {
          if (claim.entityType !== 'order' || claim.entityId !== orderId) throw new UnauthorizedError('webhook-id was already used for another request')
          return { order: (claim.response as StoredOrderAnswer).order, replay: true, events: [], applied: [] }
        }
        const refs = body.references
        await lockReferences(tx, referenceLockNames({ checkoutRequestId: refs.checkoutRequestId, externalReference: refs.externalReference, providerReference: refs.providerReference }))
        const fields = {
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
        const events: StreamEvent[] = []
        let [order] = await tx.insert(orders).values({
          id: orderId,
          ...fields,
          externalReference: refs.externalReference ?? null,
          checkoutRequestId: refs.checkoutRequestId ?? null,
          merchantRequestId: refs.merchantRequestId ?? null,
          providerReference: refs.providerReference ?? null,
          version: 1
        }).onConflictDoNothing({ target: orders.id }).returning()
        if (order !== undefined) {
          events.push(await appendOutbox(tx, orderEvent(order)))
        } else {
          const [existing] = await tx.select().from(orders).where(eq(orders.id, orderId)).for('update')
          order = await updateOrder(tx, existing!, fields, body, events)
        }

        const parkedMatch = parkedConditions(order)
        const applied: OrderUpsertResult['applied'] = []
        if (parkedMatch.length > 0) {
          const parked = await tx.select().from(parkedCallbacks)
            .where(and(isNull(parkedCallbacks.appliedAt), or(...parkedMatch)))
            .orderBy(asc(parkedCallbacks.id))
            .for('update')
          for (const item of parked) {
            const callback = item.payload as ProviderCallback
            const result = await applyToOrder(tx, order, callback, item.callbackId, events)
            order = result.order
            await tx.update(parkedCallbacks).set({ appliedAt: sql`now()`, orderId }).where(eq(parkedCallbacks.id, item.id))
            if (item.callbackId !== null) {
              await tx.update(callbacks).set({ disposition: result.disposition, orderId }).where(eq(callbacks.id, item.callbackId))
            }
            applied.push({ provider: callback.provider, outcome: callback.outcome, disposition: result.disposition, reviewKind: result.reviewKind })
          }
        }
        const answer: StoredOrderAnswer = { order: orderSnapshotOf(order) }
        await storeWebhookResponse(tx, webhookId, answer)
        return { order: answer.order, replay: false, events, applied }
      })
    }
  }
}

function parkedConditions (order: OrderRow): SQL[] {
  const conditions: SQL[] = []
  if (order.checkoutRequestId !== null) conditions.push(eq(parkedCallbacks.checkoutRequestId, order.checkoutRequestId))
  if (order.externalReference !== null) conditions.push(eq(parkedCallbacks.externalReference, order.externalReference))
  if (order.providerReference !== null) conditions.push(eq(parkedCallbacks.providerReference, order.providerReference))
  return conditions
}

type OrderFields = Pick<OrderRow, 'orderNumber' | 'totalAmount' | 'currency' | 'ticketCount' | 'customerEmail' | 'customerFirstName' | 'customerLastName' | 'customerPhone' | 'provider'>

/**
 * Updates a registered order. References omitted from the body are kept (never cleared by accident);
 * once the payment is final its amount and currency can no longer change (409).
 */
async function updateOrder (tx: Transaction, existing: OrderRow, fields: OrderFields, body: OrderUpsertBody, events: StreamEvent[]): Promise<OrderRow> {
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
  const [updated] = await tx.update(orders)
    .set({ ...next, version: sql`${orders.version} + 1`, updatedAt: sql`now()` })
    .where(eq(orders.id, existing.id))
    .returning()
  events.push(await appendOutbox(tx, orderEvent(updated!)))
  return updated!
}

export type OrderRepository = ReturnType<typeof createOrderRepository>
