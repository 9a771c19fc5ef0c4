// PUT /v1/orders/:orderId: an internal producer registers or updates an order awaiting payment.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { signSubscribeToken } from '@herald/contracts/subscribe-token'
import { ErrorBody, OrderIdParams, OrderUpsertBody, OrderUpsertResponse, validateOrderUpsert } from '@herald/contracts'
import { createOrderRepository } from '../../repositories/orders.js'
import { requireBody, requireStandardWebhook, useRawJsonBody } from '../request-guards.js'

const orderRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  useRawJsonBody(fastify)
  const { config } = fastify
  const repository = createOrderRepository(fastify.pgPool)

  fastify.put('/v1/orders/:orderId', {
    schema: {
      summary: 'Register or update an order awaiting payment; answers its snapshot and a subscribe token',
      params: OrderIdParams,
      body: OrderUpsertBody,
      response: { 200: OrderUpsertResponse, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody }
    },
    preValidation: [requireStandardWebhook(fastify.standardWebhookVerifier), requireBody(validateOrderUpsert)]
  }, async (request) => {
    const { orderId } = request.params
    const result = await repository.upsertOrder(orderId, request.body, request.webhookId!)
    const metrics = fastify.ingestMetrics
    if (result.replay) metrics.duplicates.inc({ source: 'internal' })
    for (const item of result.applied) {
      metrics.callbacks.inc({ provider: item.provider, outcome: item.outcome, disposition: item.disposition })
      if (item.reviewKind !== undefined) metrics.reviewItems.inc({ kind: item.reviewKind })
    }
    fastify.outboxRelay.publishCommitted(result)
    request.log.info({ orderId, version: result.order.version, replay: result.replay, parkedApplied: result.applied.length }, 'order registered')
    const exp = Date.now() + config.SUBSCRIBE_TOKEN_TTL_MS
    return {
      success: true as const,
      order: result.order,
      subscribeToken: signSubscribeToken(config.SUBSCRIBE_TOKEN_SECRET, { scope: 'order', id: orderId, exp }),
      subscribeTokenExpiresAt: new Date(exp).toISOString()
    }
  })
}

export default orderRoutes
