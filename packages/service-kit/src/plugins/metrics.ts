// Prometheus metrics: one registry per app instance (tests build many apps in one process), with what
// every service reports: HTTP requests by route and status class, refused requests by reason, build info.
import { readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface MetricsOptions {
  /** The `service` label of every series. */
  service: string
  /** The service's metric namespace (`herald_ingest`): HTTP and refusal metrics are named under it. */
  namespace: string
  version: string
  /** The commit the build came from (HERALD_BUILD_COMMIT); `unknown` outside a release build. */
  commit: string
  /**
   * Routes that hold their response open (long-polls, SSE): their time is a hold, observed apart from
   * request durations so a 60 s wait does not read as a slow request. Each must be a registered route.
   */
  holdRoutes?: string[]
}

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry
    /** The service's metric namespace, for its own metrics (`${metricsNamespace}_…`). */
    metricsNamespace: string
  }
}

/** The `version` of the package.json at `url` (a service passes `new URL('../package.json', import.meta.url)`). */
export function packageVersion (url: URL): string {
  return (JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version ?? 'unknown'
}

/** `2xx` … `5xx`: few series, and what an error-rate alert needs. */
const statusClass = (status: number): string => `${Math.floor(status / 100)}xx`

/** The route pattern (bounded cardinality), never the raw URL, which carries ids and tokens. */
const routeOf = (request: FastifyRequest): string => request.routeOptions.url ?? 'unmatched'

const HELD_REPLY = Symbol('herald.heldReply')
type RawWithHeldReply = ServerResponse & { [HELD_REPLY]?: FastifyReply }

export default fp<MetricsOptions>(async (fastify, opts) => {
  const registry = new Registry()
  registry.setDefaultLabels({ service: opts.service })
  collectDefaultMetrics({ register: registry })
  const ns = opts.namespace
  const registers = [registry]

  const requests = new Counter({
    name: `${ns}_http_requests_total`,
    help: 'HTTP requests answered, by route pattern, method and status class (holds included).',
    labelNames: ['route', 'method', 'status_class'] as const,
    registers
  })
  const durations = new Histogram({
    name: `${ns}_http_request_duration_seconds`,
    help: 'Time to answer an HTTP request, by route pattern, method and status class (holds excluded).',
    labelNames: ['route', 'method', 'status_class'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers
  })
  const holds = new Histogram({
    name: `${ns}_http_hold_duration_seconds`,
    help: 'How long a held response (long-poll, SSE stream) stayed open, by route pattern.',
    labelNames: ['route', 'status_class'] as const,
    buckets: [0.01, 0.1, 1, 5, 15, 30, 60, 120, 300, 900, 3600],
    registers
  })
  const refused = new Counter({
    name: `${ns}_requests_refused_total`,
    help: 'Requests answered with an error, by route pattern and reason (bad_token, bad_signature, invalid_body, unavailable …).',
    labelNames: ['route', 'reason'] as const,
    registers
  })
  new Gauge({
    name: `${ns}_build_info`,
    help: 'Always 1; the labels say which build runs.',
    labelNames: ['version', 'commit'] as const,
    registers
  }).set({ version: opts.version, commit: opts.commit }, 1)

  fastify.decorate('metricsRegistry', registry)
  fastify.decorate('metricsNamespace', ns)

  const holdRoutes = new Set(opts.holdRoutes ?? [])
  const registered = new Set<string>()
  fastify.addHook('onRoute', (route) => { registered.add(route.url) })
  fastify.addHook('onReady', async () => {
    const unknown = [...holdRoutes].filter((url) => !registered.has(url))
    if (unknown.length > 0) throw new Error(`metrics: hold routes ${unknown.join(', ')} are not registered`)
  })

  const countRefusal = (request: FastifyRequest, reply: FastifyReply): void => {
    if (reply.statusCode >= 400 && request.refusalReason != null) refused.inc({ route: routeOf(request), reason: request.refusalReason })
  }

  // A held response may be hijacked (SSE), and then Fastify runs no onResponse: observe it when the
  // socket's response closes instead, whichever way it ends. One listener for every hold, which finds
  // its reply on the response: a closure and a `once` wrapper each would cost about 300 B per hold.
  function observeHold (this: RawWithHeldReply): void {
    const reply = this[HELD_REPLY]
    if (reply === undefined) return
    this[HELD_REPLY] = undefined
    const route = routeOf(reply.request)
    const status = statusClass(this.statusCode)
    requests.inc({ route, method: reply.request.method, status_class: status })
    holds.observe({ route, status_class: status }, reply.elapsedTime / 1000)
  }
  fastify.addHook('onRequest', (request, reply, done) => {
    if (holdRoutes.has(routeOf(request))) {
      const raw = reply.raw as RawWithHeldReply
      raw[HELD_REPLY] = reply
      raw.on('close', observeHold)
    }
    done()
  })
  fastify.addHook('onResponse', (request, reply, done) => {
    countRefusal(request, reply)
    const route = routeOf(request)
    if (!holdRoutes.has(route)) {
      const labels = { route, method: request.method, status_class: statusClass(reply.statusCode) }
      requests.inc(labels)
      durations.observe(labels, reply.elapsedTime / 1000)
    }
    done()
  })

  fastify.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'herald-metrics' })
