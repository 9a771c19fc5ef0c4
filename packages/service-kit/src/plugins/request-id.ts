// Every answer carries x-request-id: the caller's (when it is a sane token) or the one Herald made up.
// The id is also the request's async context, so code far from the handler (a transaction, the outbox
// relay's immediate publish) can tag what the request caused with it, and with its trace when traced.
import { AsyncLocalStorage } from 'node:async_hooks'
import { ROOT_CONTEXT, context } from '@opentelemetry/api'
import fp from 'fastify-plugin'
import { activeTraceContext, type TraceCarrier } from '../trace-context.js'

/** What the work done for a request carries forward: its id and, when it is traced, its W3C trace context. */
export interface RequestCause extends TraceCarrier {
  requestId: string
}

/** Holds `{ requestId }` during a request; a whole captured cause inside `inRequestContext`. */
const requestContext = new AsyncLocalStorage<RequestCause>()

/** The id of the request this code runs for; undefined outside a request (sweeps, timers). */
export function currentRequestId (): string | undefined {
  return requestContext.getStore()?.requestId
}

/**
 * The cause of the work running now: the request's id, with the trace context of the span it runs in
 * when there is one (tracing on). Inside `inRequestContext`, the cause captured then. With tracing off
 * this is the request's own `{ requestId }` object: nothing is allocated or carried.
 */
export function currentCause (): RequestCause | undefined {
  const cause = requestContext.getStore()
  if (cause === undefined || cause.traceparent !== undefined) return cause
  const trace = activeTraceContext()
  return trace === undefined ? cause : { ...cause, ...trace }
}

/**
 * Runs `work` as part of the request that `cause` was captured from (undefined: of none). Work queued by
 * one request and run later for many (the ingest's group commit) gives each write its own request back,
 * and none of the span of whichever request happened to start the batch.
 */
export function inRequestContext<T> (cause: RequestCause | undefined, work: () => T): T {
  return context.with(ROOT_CONTEXT, () => cause === undefined ? requestContext.exit(work) : requestContext.run(cause, work))
}

export default fp(async (fastify) => {
  // onRequest, so errors, 404s and hijacked SSE responses (which copy the reply's headers) carry it too.
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    requestContext.run({ requestId: request.id }, done)
  })
}, { name: 'herald-request-id' })
