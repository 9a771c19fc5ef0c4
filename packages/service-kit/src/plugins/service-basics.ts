// The plugins every Herald service starts with, in the order that matters: tracing first (so every route
// and hook registered after it is traced), then errors, request ids, headers, API reference, probes,
// metrics and load shedding. Each service registers its own dependencies and routes after these.
import type { FastifyInstance } from 'fastify'
import errorHandlerPlugin from './error-handler.js'
import healthPlugin from './health.js'
import metricsPlugin, { packageVersion } from './metrics.js'
import openapiPlugin from './openapi.js'
import overloadPlugin, { overloadOptionsOf, type OverloadOptions } from './overload.js'
import requestIdPlugin from './request-id.js'
import securityHeadersPlugin from './security-headers.js'
import tracingPlugin from './tracing.js'

export interface ServiceBasicsOptions {
  /** `webhook-ingest`, `status-gateway`: the service label of metrics and traces. */
  service: string
  /** The metric namespace (`herald_ingest`). */
  namespace: string
  /** The service's package.json: its version labels metrics and traces. */
  packageJson: URL
  /** What the API reference page says the service is. */
  api: { title: string, description: string }
  config: Parameters<typeof overloadOptionsOf>[0] & { OTEL_EXPORTER_OTLP_ENDPOINT: string, HERALD_BUILD_COMMIT: string }
  /** Routes whose time is a hold (long-polls, SSE), observed apart from request durations. */
  holdRoutes?: string[]
  /** Under pressure, refuse every request (`all`) or only what the service refuses itself (`none`). */
  refuseUnderPressure: OverloadOptions['refuse']
}

export async function registerServiceBasics (fastify: FastifyInstance, opts: ServiceBasicsOptions): Promise<void> {
  const { config, service } = opts
  const version = packageVersion(opts.packageJson)
  await fastify.register(tracingPlugin, { service, version, endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT })
  await fastify.register(errorHandlerPlugin)
  await fastify.register(requestIdPlugin)
  await fastify.register(securityHeadersPlugin)
  await fastify.register(openapiPlugin, opts.api)
  await fastify.register(healthPlugin)
  await fastify.register(metricsPlugin, { service, namespace: opts.namespace, version, commit: config.HERALD_BUILD_COMMIT, ...(opts.holdRoutes !== undefined ? { holdRoutes: opts.holdRoutes } : {}) })
  await fastify.register(overloadPlugin, overloadOptionsOf(config, opts.refuseUnderPressure))
}
