// Back-end endpoint health and dead letters (admin): list them, and send a dead letter again.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  BackendEndpointsResponse, DeadLetterParams, DeadLettersResponse, ErrorBody, RedeliverResponse, type DeadLetter
} from '@herald/contracts'
import { NotFoundError } from '@herald/service-kit'
import type { DeadLetterRow } from '../../deliveries/delivery-store.js'
import { requireAdminOrStandardWebhook } from '../request-guards.js'

const deadLetterOf = (row: DeadLetterRow): DeadLetter => ({
  id: row.id,
  endpointId: row.endpointId,
  cursor: row.outboxId,
  entityType: row.entityType,
  entityId: row.entityId,
  attempts: row.attempts,
  lastStatus: row.lastStatus,
  lastError: row.lastError,
  deadAt: row.deadAt.toISOString(),
  redeliveredAt: row.redeliveredAt?.toISOString() ?? null
})

const errors = { 401: ErrorBody, 503: ErrorBody }

const deliveryRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const deliveries = fastify.backendDeliveries
  const onRequest = requireAdminOrStandardWebhook(fastify.config.ADMIN_TOKEN, fastify.standardWebhookVerifier)

  fastify.get('/v1/backend-endpoints', {
    schema: { summary: 'Health of every configured back-end endpoint (admin)', response: { 200: BackendEndpointsResponse, ...errors } },
    onRequest
  }, async () => ({ success: true as const, endpoints: await deliveries.health() }))

  fastify.get('/v1/backend-endpoints/dead-letters', {
    schema: {
      summary: 'Events set aside after their last failed attempt, newest first (admin)',
      querystring: Type.Object({
        endpointId: Type.Optional(Type.String({ maxLength: 64 })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 }))
      }, { additionalProperties: false }),
      response: { 200: DeadLettersResponse, 400: ErrorBody, ...errors }
    },
    onRequest
  }, async (request) => {
    const rows = await deliveries.reports.deadLetters(request.query.endpointId, request.query.limit ?? 100)
    return { success: true as const, deadLetters: rows.map(deadLetterOf) }
  })

  fastify.post('/v1/backend-endpoints/dead-letters/:id/redeliver', {
    schema: {
      summary: 'Send a dead-lettered event to its endpoint again, with a fresh schedule (admin)',
      params: DeadLetterParams,
      response: { 200: RedeliverResponse, 400: ErrorBody, 404: ErrorBody, ...errors }
    },
    onRequest
  }, async (request) => {
    const row = await deliveries.reports.redeliver(request.params.id)
    if (row === null) throw new NotFoundError(`No dead letter ${request.params.id}`)
    request.log.info({ deadLetter: row.id, endpointId: row.endpointId, cursor: row.outboxId }, 'dead letter queued for redelivery')
    return { success: true as const, deadLetter: deadLetterOf(row) }
  })
}

export default deliveryRoutes
