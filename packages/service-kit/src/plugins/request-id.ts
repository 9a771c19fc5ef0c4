// Every answer carries x-request-id: the caller's (when it is a sane token) or the one Herald made up.
// The id is also the request's async context, so code far from the handler (a transaction, the outbox
// relay's immediate publish) can tag what the request caused with it.
import { AsyncLocalStorage } from 'node:async_hooks'
import fp from 'fastify-plugin'

const requestContext = new AsyncLocalStorage<{ requestId: string }>()

/** The id of the request this code runs for; undefined outside a request (sweeps, timers). */
export function currentRequestId (): string | undefined {
  return requestContext.getStore()?.requestId
}

/**
 * Runs `work` as part of the request `requestId` (undefined: of none). Work queued by one request and run
 * later for many (the ingest's group commit) gives each write its own request back.
 */
export function inRequestContext<T> (requestId: string | undefined, work: () => T): T {
  return requestId === undefined ? requestContext.exit(work) : requestContext.run({ requestId }, work)
}

export default fp(async (fastify) => {
  // onRequest, so errors, 404s and hijacked SSE responses (which copy the reply's headers) carry it too.
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    requestContext.run({ requestId: request.id }, done)
  })
}, { name: 'herald-request-id' })
