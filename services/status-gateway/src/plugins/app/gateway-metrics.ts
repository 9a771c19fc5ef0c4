// The gateway's Prometheus metrics, on the app's registry.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram } from 'prom-client'

export type LongPollOutcome = 'immediate' | 'notified' | 'timed_out'

function createGatewayMetrics (registry: import('prom-client').Registry) {
  return {
    streamEvents: new Counter({
      name: 'herald_gateway_stream_events_total',
      help: 'Events this replica read from the streams (one per accepted callback or status change), by entity type.',
      labelNames: ['entity_type'] as const,
      registers: [registry]
    }),
    longPollOutcomes: new Counter({
      name: 'herald_gateway_longpoll_outcomes_total',
      help: 'Long-polls answered, by outcome: immediate, notified by an event, timed out.',
      labelNames: ['outcome'] as const,
      registers: [registry]
    }),
    longPollWait: new Histogram({
      name: 'herald_gateway_longpoll_wait_seconds',
      help: 'Time a long-poll was held before its answer.',
      buckets: [0.005, 0.05, 0.25, 1, 5, 15, 30, 60, 120],
      registers: [registry]
    }),
    longPollsPerPayment: new Histogram({
      name: 'herald_gateway_longpoll_requests_per_payment',
      help: 'Long-poll requests this replica served for one order until it answered a final payment status.',
      buckets: [1, 2, 3, 5, 8, 13, 21],
      registers: [registry]
    }),
    deliveryLatency: new Histogram({
      name: 'herald_gateway_delivery_latency_seconds',
      help: 'From the event being recorded by the ingest (occurredAt) to it being written to a client.',
      labelNames: ['channel'] as const,
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry]
    }),
    activeWaiters: new Gauge({
      name: 'herald_gateway_active_waiters',
      help: 'Long-polls currently held.',
      registers: [registry]
    }),
    activeSseStreams: new Gauge({
      name: 'herald_gateway_active_sse_streams',
      help: 'SSE streams currently open.',
      registers: [registry]
    }),
    holdsRefused: new Counter({
      name: 'herald_gateway_holds_refused_total',
      help: 'Long-polls and SSE streams refused with 429: their client address or token held GATEWAY_MAX_HOLDS_PER_CLIENT already.',
      labelNames: ['by'] as const,
      registers: [registry]
    }),
    slowClientDisconnects: new Counter({
      name: 'herald_gateway_sse_slow_client_disconnects_total',
      help: 'SSE clients disconnected because their unsent bytes passed SSE_MAX_BUFFER_BYTES.',
      registers: [registry]
    })
  }
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>

declare module 'fastify' {
  interface FastifyInstance {
    gatewayMetrics: GatewayMetrics
  }
}

/** Seconds since an ISO timestamp, for the delivery-latency histogram; null when it does not parse. */
export function secondsSince (iso: string, now = Date.now()): number | null {
  const at = Date.parse(iso)
  return Number.isNaN(at) ? null : Math.max(0, now - at) / 1000
}

export default fp(async (fastify) => {
  fastify.decorate('gatewayMetrics', createGatewayMetrics(fastify.metricsRegistry))
}, { name: 'gateway-metrics', dependencies: ['herald-metrics'] })
