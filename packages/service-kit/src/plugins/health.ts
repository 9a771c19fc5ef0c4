// /healthz (alive) and /readyz (dependencies reachable, not shutting down).
import fp from 'fastify-plugin'
import { HealthResponse, ReadyResponse } from '@herald/contracts'

export type ReadinessCheck = () => Promise<boolean>

export interface ReadinessOptions {
  /**
   * A required dependency down makes /readyz 503 (the pod leaves the Service). An optional one down
   * answers 200 `degraded`: the service still does its job without it (the ingest keeps taking callbacks
   * into its outbox while Redis is away), and taking it out of rotation would turn a partial outage into a
   * full one. With every dependency down the service is not ready either way.
   */
  required?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    readiness: {
      /** Adds a dependency that /readyz reports by name. */
      add (name: string, check: ReadinessCheck, options?: ReadinessOptions): void
      /** Marks the service as draining: /readyz answers 503 from now on. */
      markShuttingDown (): void
      readonly shuttingDown: boolean
      /** Runs every check; `ok` is false when a required one fails, all fail, or the service is draining. */
      evaluate (): Promise<{ ok: boolean, degraded: boolean, checks: Record<string, 'ok' | 'down'> }>
    }
  }
}

export default fp(async (fastify) => {
  const checks = new Map<string, { check: ReadinessCheck, required: boolean }>()
  let shuttingDown = false

  const readiness = {
    add (name: string, check: ReadinessCheck, options: ReadinessOptions = {}) { checks.set(name, { check, required: options.required ?? true }) },
    markShuttingDown () { shuttingDown = true },
    get shuttingDown () { return shuttingDown },
    async evaluate () {
      const results: Record<string, 'ok' | 'down'> = {}
      await Promise.all([...checks].map(async ([name, { check }]) => {
        results[name] = await check().catch(() => false) ? 'ok' : 'down'
      }))
      const down = [...checks].filter(([name]) => results[name] === 'down')
      const requiredDown = down.some(([, { required }]) => required)
      const allDown = checks.size > 0 && down.length === checks.size
      return { ok: !shuttingDown && !requiredDown && !allDown, degraded: down.length > 0, checks: results }
    }
  }
  fastify.decorate('readiness', readiness)
  fastify.addHook('preClose', async () => { shuttingDown = true })

  fastify.get('/healthz', {
    schema: { hide: true, response: { 200: HealthResponse } },
    logLevel: 'warn'
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/readyz', {
    schema: { hide: true, response: { 200: ReadyResponse, 503: ReadyResponse } },
    logLevel: 'warn'
  }, async (_request, reply) => {
    const { ok, degraded, checks: results } = await readiness.evaluate()
    const status = !ok ? 'not_ready' : degraded ? 'degraded' : 'ready'
    return reply.code(ok ? 200 : 503).send({ status, shuttingDown, checks: results })
  })
}, { name: 'herald-health' })
