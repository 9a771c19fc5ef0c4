// The gateway's own counters, for the dashboard (admin token); Prometheus has the same as gauges.
import Type, { type Static } from 'typebox'
import { BackendEndpointHealth } from './backends.js'

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
  backendEndpoints: Type.Array(BackendEndpointHealth)
})
export type GatewayStatsResponse = Static<typeof GatewayStatsResponse>
