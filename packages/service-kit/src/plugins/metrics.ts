// Prometheus metrics: one registry per app instance (tests build many apps in one process).
import fp from 'fastify-plugin'
import { Registry, collectDefaultMetrics } from 'prom-client'

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry
  }
}

export default fp<{ service: string }>(async (fastify, opts) => {
  const registry = new Registry()
  registry.setDefaultLabels({ service: opts.service })
  collectDefaultMetrics({ register: registry })
  fastify.decorate('metricsRegistry', registry)

  fastify.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'herald-metrics' })
