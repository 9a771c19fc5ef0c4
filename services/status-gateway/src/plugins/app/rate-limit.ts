// A request-rate limit per client address (@fastify/rate-limit), counted in Redis so every replica shares
// one budget. It runs on onRequest, before authorisation: a flood of bad tokens costs one Redis call each.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { RateLimitedError } from '@herald/service-kit'

/** Probes and scrapes come from the platform, not from clients. */
const EXEMPT = new Set(['/healthz', '/readyz', '/metrics'])

export default fp(async (fastify) => {
  const max = fastify.config.GATEWAY_RATE_LIMIT_PER_MINUTE
  if (max === 0) return
  await fastify.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max,
    timeWindow: 60_000,
    // request.ip: the client's address, once TRUSTED_PROXIES names the proxies in front.
    keyGenerator: (request) => request.ip,
    allowList: (request) => EXEMPT.has(request.routeOptions.url ?? ''),
    redis: fastify.redis,
    nameSpace: `${fastify.redisOptions.prefix}:rate:`,
    // With Redis down the gateway still serves (degraded): counting stops rather than answering.
    skipOnError: true,
    addHeadersOnExceeding: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true },
    errorResponseBuilder: (_request, context) => new RateLimitedError(`This client address sent more than ${context.max} requests in a minute; retry in ${context.after}`)
  })
}, { name: 'gateway-rate-limit', dependencies: ['herald-redis'] })
