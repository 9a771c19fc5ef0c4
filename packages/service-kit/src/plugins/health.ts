// /healthz (alive) and /readyz (dependencies reachable, not shutting down).
import fp from 'fastify-plugin'
import { HealthResponse, ReadyResponse } from '@herald/contracts'

export type ReadinessCheck = () => Promise<boolean>

declare module 'fastify' {
  interface FastifyInstance {
    readiness: {
      /** Adds a dependency that /readyz reports by name. */
      add (name: string, check: ReadinessCheck): void
      /** Marks the service as draining: /readyz answers 503 from now on. */
      markShuttingDown (): void
      readonly shuttingDown: boolean
      /** Runs every check; `ok` is false when one fails or the service is draining. */
      evaluate (): Promise<{ ok: boolean, checks: Record<string, 'ok' | 'down'> }>
    }
  }
}

export default fp(async (fastify) => {
  const checks = new Map<string, ReadinessCheck>()
  let shuttingDown = false

  const readiness = {
    add (name: string, check: ReadinessCheck) { checks.set(name, check) },
    markShuttingDown () { shuttingDown = true },
    get shuttingDown () { return shuttingDown },
    async evaluate () {
      const results: Record<string, 'ok' | 'down'> = {}
      await Promise.all([...checks].map(async ([name, check]) => {
        results[name] = await check().catch(() => false) ? 'ok' : 'down'
      }))
      return { ok: !shuttingDown && Object.values(results).every((r) => r === 'ok'), checks: results }
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
    const { ok, checks: results } = await readiness.evaluate()
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', shuttingDown, checks: results })
  })
}, { name: 'herald-health' })
