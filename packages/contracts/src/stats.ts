// The gateway's own counters, for the dashboard (admin token); Prometheus has the same as gauges.
import Type, { type Static } from 'typebox'
import { BackendEndpointHealth } from './backends.js'

/**
 * One step of this replica's recent activity: stream events it took and deliveries it made in that step.
 * The latencies are estimated from the `herald_gateway_delivery_latency_seconds` buckets, as Prometheus'
 * `histogram_quantile` would (so they are as fine as the buckets); null when nothing was delivered.
 */
export const GatewayActivityPoint = Type.Object({
  /** End of the step, epoch milliseconds. */
  at: Type.Integer({ minimum: 0 }),
  /** Stream events (the callbacks' results) this replica read, per second over the step. */
  eventsPerSecond: Type.Number({ minimum: 0 }),
  /** Updates written to clients (long-poll answers and SSE messages) in the step. */
  deliveries: Type.Integer({ minimum: 0 }),
  /** From the event's occurredAt to its delivery, median over the step's deliveries. */
  latencyP50Seconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  latencyP99Seconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()])
})
export type GatewayActivityPoint = Static<typeof GatewayActivityPoint>

/** The rolling window of activity points the dashboard charts, oldest first. */
export const GatewayActivity = Type.Object({
  stepSeconds: Type.Number({ exclusiveMinimum: 0 }),
  windowSeconds: Type.Number({ exclusiveMinimum: 0 }),
  points: Type.Array(GatewayActivityPoint)
})
export type GatewayActivity = Static<typeof GatewayActivity>

/** What one gateway replica holds right now: not a cluster-wide total. */
export const GatewayStatsResponse = Type.Object({
  success: Type.Literal(true),
  /** Long-polls this replica holds. */
  longPollWaiters: Type.Integer({ minimum: 0 }),
  /** SSE streams open on this replica, all feeds together. */
  sseStreams: Type.Integer({ minimum: 0 }),
  /**
   * Back-end webhook endpoints some ingest replica served in the last minute, read from Postgres (shared
   * by every replica, unlike the counts above); empty when Postgres is unreachable.
   */
  backendEndpoints: Type.Array(BackendEndpointHealth),
  /** This replica's events per second and delivery latency over the last couple of minutes. */
  activity: GatewayActivity
})
export type GatewayStatsResponse = Static<typeof GatewayStatsResponse>
