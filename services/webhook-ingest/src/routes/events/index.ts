// GET /v1/events: the pull feed for back-ends that prefer to pull (admin token, or signed).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody, EventFeedQuery, EventFeedResponse } from '@herald/contracts'
import { EventFeed } from '../../deliveries/event-feed.js'
import { requireAdminOrStandardWebhook } from '../request-guards.js'

const eventRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const feed = new EventFeed(fastify.pgPool, fastify.backendDeliveries.horizon)

  fastify.get('/v1/events', {
    schema: {
      summary: 'Every committed event in commit order, after a cursor (admin token or Standard Webhooks signature)',
      querystring: EventFeedQuery,
      response: { 200: EventFeedResponse, 400: ErrorBody, 401: ErrorBody, 410: ErrorBody, 503: ErrorBody }
    },
    onRequest: requireAdminOrStandardWebhook(fastify.config.ADMIN_TOKEN, fastify.standardWebhookVerifier)
  }, async (request) => feed.page(request.query.after, request.query.limit ?? 100))
}

export default eventRoutes
