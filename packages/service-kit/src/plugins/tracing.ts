// OpenTelemetry tracing through @fastify/otel, on only when an OTLP endpoint is configured: a span per
// request (and per hook and handler), joined to the caller's trace by its W3C `traceparent` header.
import type { Tracer } from '@opentelemetry/api'
import fp from 'fastify-plugin'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node'

export interface TracingOptions {
  service: string
  version: string
  /** OTEL_EXPORTER_OTLP_ENDPOINT (`http://collector:4318`); empty: no tracing at all. */
  endpoint: string
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The service's own tracer, for spans outside a request (deliveries); undefined with tracing off.
     * Its provider is this service's, not the global one: two services in one process keep their names.
     */
    tracer: Tracer | undefined
  }
}

/** Probes and scrapes would drown the traces that matter. */
const UNTRACED = new Set(['/metrics', '/healthz', '/readyz'])

export default fp<TracingOptions>(async (fastify, opts) => {
  if (opts.endpoint === '') {
    fastify.decorate('tracer', undefined)
    return
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.service, 'service.version': opts.version }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.endpoint.replace(/\/$/, '')}/v1/traces` }))]
  })
  // Global context manager and the W3C trace-context propagator, which @fastify/otel reads `traceparent` with.
  provider.register()
  const instrumentation = new FastifyOtelInstrumentation({
    ignorePaths: (route: { url: string }) => UNTRACED.has(route.url)
  })
  instrumentation.setTracerProvider(provider)
  await fastify.register(instrumentation.plugin())
  fastify.decorate('tracer', provider.getTracer('herald', opts.version))
  // Sends the spans still batched before the process ends.
  fastify.addHook('onClose', async () => { await provider.shutdown() })
}, { name: 'herald-tracing' })
