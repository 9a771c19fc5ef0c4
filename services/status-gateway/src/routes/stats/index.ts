// What this replica holds right now, its recent activity, and the back-end endpoints' health, for the dashboard's header (admin token).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { ErrorBody, GatewayStatsResponse, type BackendEndpointHealth } from '@herald/contracts'
import { readBackendEndpointHealth } from '@herald/db'

/** An ingest replica renews its lease on an endpoint every poll: one not renewed for this long is not served. */
const SERVED_WITHIN_MS = 60_000

const statsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { access, orderWaiters, streamFanout, deliveryActivity } = fastify

  fastify.get('/api/stats', {
    schema: {
      tags: ['admin'],
      summary: 'Long-polls held, SSE streams open and recent activity on this replica, and back-end endpoint health (admin token)',
      description: 'Counts of this replica only; behind a load balancer each request may reach another one. ' +
        'Prometheus has the same as `herald_gateway_active_waiters` and `herald_gateway_active_sse_streams`; ' +
        '`activity` is sampled each second from `herald_gateway_stream_events_total` and ' +
        '`herald_gateway_delivery_latency_seconds` over the last two minutes.',
      querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 1024 })) }),
      response: { 200: GatewayStatsResponse, 401: ErrorBody, 403: ErrorBody }
    }
  }, async (request) => {
    access.authorizeAdmin(request, 'the gateway stats')
    let backendEndpoints: BackendEndpointHealth[] = []
    try {
      backendEndpoints = await readBackendEndpointHealth(fastify.pgPool, { servedWithinMs: SERVED_WITHIN_MS })
    } catch (err) {
      request.log.warn({ err }, 'back-end endpoint health unavailable')
    }
    return {
      success: true as const,
      longPollWaiters: orderWaiters.size,
      sseStreams: streamFanout.size,
      backendEndpoints,
      activity: deliveryActivity.snapshot()
    }
  })
}

export default statsRoutes
