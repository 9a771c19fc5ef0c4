// What this replica holds right now, for the dashboard's header (admin token).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorBody, GatewayStatsResponse } from '@herald/contracts'

const statsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { access, orderWaiters, streamFanout } = fastify

  fastify.get('/api/stats', {
    schema: {
      tags: ['admin'],
      summary: 'Long-polls held and SSE streams open on this replica (admin token)',
      description: 'Counts of this replica only; behind a load balancer each request may reach another one. ' +
        'Prometheus has the same as `herald_gateway_active_waiters` and `herald_gateway_active_sse_streams`.',
      querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 1024 })) }),
      response: { 200: GatewayStatsResponse, 401: ErrorBody, 403: ErrorBody }
    }
  }, async (request) => {
    access.authorizeAdmin(request, 'the gateway stats')
    return { success: true as const, longPollWaiters: orderWaiters.size, sseStreams: streamFanout.size }
  })
}

export default statsRoutes
