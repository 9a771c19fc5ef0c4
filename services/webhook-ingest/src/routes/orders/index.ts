// PUT /v1/orders/:orderId: an internal producer registers or updates an order awaiting payment.
// POST /v1/orders/:orderId/outcome: its back-end reports an outcome it verified itself.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { signSubscribeToken } from '@herald/contracts/subscribe-token'
import {
  ErrorBody, OrderIdParams, OrderOutcomeBody, OrderOutcomeResponse, OrderUpsertBody, OrderUpsertResponse, validateOrderOutcome,
  validateOrderUpsert
} from '@herald/contracts'
import { OutcomeConflictError, withDetails } from '@herald/service-kit'
import { createOrderRepository, type ReportedOutcome } from '../../repositories/orders.js'
import { bodyCheckedByGuard, requireBody, requireStandardWebhook, useRawJsonBody } from '../request-guards.js'

const orderRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  useRawJsonBody(fastify)
  const { config } = fastify
  const repository = createOrderRepository(fastify.unitOfWork)
  const validatorCompiler = bodyCheckedByGuard(fastify)

  fastify.put('/v1/orders/:orderId', {
    schema: {
      summary: 'Register or update an order awaiting payment; answers its snapshot and a subscribe token',
      params: OrderIdParams,
      body: OrderUpsertBody,
      response: { 200: OrderUpsertResponse, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody }
    },
    preValidation: [requireStandardWebhook(fastify.standardWebhookVerifier), requireBody(validateOrderUpsert)],
    validatorCompiler
  }, async (request) => {
    const { orderId } = request.params
    const result = await repository.upsertOrder(orderId, request.body, request.webhookId!)
    const metrics = fastify.ingestMetrics
    if (result.replay) metrics.duplicates.inc({ source: 'internal' })
    for (const item of result.applied) {
      metrics.callbacks.inc({ provider: item.provider, outcome: item.outcome, disposition: item.disposition })
      if (item.reviewKind !== undefined) metrics.reviewItems.inc({ kind: item.reviewKind })
    }
    request.log.info({ orderId, version: result.order.version, replay: result.replay, parkedApplied: result.applied.length }, 'order registered')
    const exp = Date.now() + config.SUBSCRIBE_TOKEN_TTL_MS
    return {
      success: true as const,
      order: result.order,
      subscribeToken: signSubscribeToken(config.SUBSCRIBE_TOKEN_SECRET, { scope: 'order', id: orderId, exp }),
      subscribeTokenExpiresAt: new Date(exp).toISOString()
    }
  })

  fastify.post('/v1/orders/:orderId/outcome', {
    schema: {
      summary: 'Report a payment outcome the back-end verified itself; applied as a provider callback would be',
      params: OrderIdParams,
      body: OrderOutcomeBody,
      response: { 200: OrderOutcomeResponse, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody }
    },
    preValidation: [requireStandardWebhook(fastify.standardWebhookVerifier), requireBody(validateOrderOutcome)],
    validatorCompiler
  }, async (request) => {
    const { orderId } = request.params
    const body = request.body
    const reported: ReportedOutcome = {
      shape: 'backend_report',
      references: {},
      resultCode: body.resultCode ?? null,
      resultDesc: body.resultDesc ?? `${body.outcome} (reported by the back-end)`,
      outcome: body.outcome,
      receipt: body.receipt ?? null,
      amount: body.amount ?? null,
      currency: body.currency ?? null
    }
    const result = await repository.recordOutcome(orderId, reported, body, request.webhookId!, request.ip)
    const metrics = fastify.ingestMetrics
    if (result.replay) metrics.duplicates.inc({ source: 'internal' })
    else metrics.callbacks.inc({ provider: 'backend', outcome: body.outcome, disposition: result.disposition })
    if (result.reviewKind !== undefined && !result.replay) metrics.reviewItems.inc({ kind: result.reviewKind })
    request.log.info({ orderId, outcome: body.outcome, disposition: result.disposition, reviewKind: result.reviewKind, replay: result.replay }, 'reported outcome')
    if (result.disposition === 'review') {
      // Recorded for review (and the order flagged), not applied: the back-end must hear it was refused.
      const why = result.reviewKind === 'amount_mismatch' ? 'its amount or currency does not match the order' : `the order is already ${result.order.paymentStatus}`
      throw withDetails(new OutcomeConflictError(`Outcome ${body.outcome} refused for order ${orderId}: ${why}; recorded for review`), { reviewKind: result.reviewKind, order: result.order })
    }
    return { success: true as const, disposition: result.disposition as 'applied' | 'duplicate', order: result.order }
  })
}

export default orderRoutes
