// Load shedding (@fastify/under-pressure): past the event-loop or memory limits a service refuses new work
// with 503 and Retry-After, while probes and metrics keep answering.
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { OverloadedError } from '../errors.js'

export interface OverloadOptions {
  /** 0 turns a check off. */
  maxEventLoopDelayMs: number
  maxHeapUsedBytes: number
  maxRssBytes: number
  retryAfterSeconds: number
  /**
   * `all`: every request but the probes is refused under pressure (the ingest: providers retry). `none`:
   * requests go on and the service refuses what it chooses with `refuseIfOverloaded` (the gateway refuses
   * new holds while it keeps serving the ones it has).
   */
  refuse: 'all' | 'none'
}

/** The PRESSURE_* variables every service reads (CommonEnv) as plugin options. */
export function overloadOptionsOf (config: {
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: number
  PRESSURE_MAX_HEAP_USED_BYTES: number
  PRESSURE_MAX_RSS_BYTES: number
  PRESSURE_RETRY_AFTER_SECONDS: number
}, refuse: OverloadOptions['refuse']): OverloadOptions {
  return {
    maxEventLoopDelayMs: config.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: config.PRESSURE_MAX_HEAP_USED_BYTES,
    maxRssBytes: config.PRESSURE_MAX_RSS_BYTES,
    retryAfterSeconds: config.PRESSURE_RETRY_AFTER_SECONDS,
    refuse
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Throws 503 OVERLOADED with Retry-After when the process is past its limits. */
    refuseIfOverloaded (reply: FastifyReply, what: string): void
    /** From @fastify/under-pressure, restated so that users of this plugin see it without importing that package. */
    isUnderPressure (): boolean
  }
}

const PROBES = new Set(['/healthz', '/readyz', '/metrics'])

export default fp<OverloadOptions>(async (fastify, opts) => {
  const overloaded = (reply: FastifyReply, what: string) => {
    reply.header('retry-after', String(opts.retryAfterSeconds))
    return new OverloadedError(`The service is overloaded and takes no ${what} now; retry after ${opts.retryAfterSeconds} s`)
  }
  await fastify.register(underPressure, {
    maxEventLoopDelay: opts.maxEventLoopDelayMs,
    maxHeapUsedBytes: opts.maxHeapUsedBytes,
    maxRssBytes: opts.maxRssBytes,
    retryAfter: opts.retryAfterSeconds,
    // Called only under pressure; returning lets the request through.
    pressureHandler: async (request: FastifyRequest, reply: FastifyReply) => {
      if (opts.refuse === 'none' || PROBES.has(request.routeOptions.url ?? '')) return
      request.log.warn({ memory: fastify.memoryUsage() }, 'refused under pressure')
      throw overloaded(reply, 'new requests')
    }
  })
  fastify.decorate('refuseIfOverloaded', (reply: FastifyReply, what: string) => {
    if (fastify.isUnderPressure()) throw overloaded(reply, what)
  })
}, { name: 'herald-overload' })
