// Each held long-poll or SSE stream takes a slot for its client address and one for its token (ClientHolds).
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { createHash } from 'node:crypto'
import { TooManyHoldsError } from '@herald/service-kit'
import { ClientHolds, type ReleaseHold } from '../../holds/client-holds.js'
import { tokenOf } from './access.js'

/** Long-polls end within their timeout and streams reconnect on their own: a short pause is enough. */
export const HOLDS_RETRY_AFTER_SECONDS = 5

declare module 'fastify' {
  interface FastifyInstance {
    clientHolds: ClientHolds
    /**
     * Takes this request's slots until its response closes (answered, timed out, or the client left), or
     * throws 429 with Retry-After (503 OVERLOADED while the process is under pressure). Called after
     * authorisation, so a bad token is still a 401.
     */
    holdSlots (request: FastifyRequest, reply: FastifyReply): void
  }
}

/** A digest keeps the index small and free of usable secrets whatever the token's length. */
const tokenKey = (token: string) => `token:${createHash('sha256').update(token).digest('base64url')}`

const RELEASE = Symbol('herald.releaseHold')
type RawWithHold = ServerResponse & { [RELEASE]?: ReleaseHold }

/** One listener for every held response (not a `once` wrapper each): the release rides on the response. */
function releaseOnClose (this: RawWithHold): void {
  this[RELEASE]?.()
}

export default fp(async (fastify) => {
  const holds = new ClientHolds(fastify.config.GATEWAY_MAX_HOLDS_PER_CLIENT)
  const refused = fastify.gatewayMetrics.holdsRefused
  fastify.decorate('clientHolds', holds)
  fastify.decorate('holdSlots', (request: FastifyRequest, reply: FastifyReply): void => {
    // Under pressure no new hold is taken; the ones open are served to their end.
    fastify.refuseIfOverloaded(reply, 'new long-polls or streams')
    // request.ip is the client's address once trustProxy (TRUSTED_PROXIES) names the proxies in front.
    const address = `address:${request.ip}`
    const token = tokenOf(request)
    const keys = token === undefined ? [address] : [address, tokenKey(token)]
    const release = holds.acquire(keys)
    if (release === null) {
      const by = holds.count(address) >= holds.limit ? 'address' : 'token'
      refused.inc({ by })
      reply.header('retry-after', String(HOLDS_RETRY_AFTER_SECONDS))
      throw new TooManyHoldsError(`This ${by === 'address' ? 'client address' : 'token'} already holds ${holds.limit} long-polls and streams open; retry after one ends`)
    }
    const raw = reply.raw as RawWithHold
    raw[RELEASE] = release
    raw.on('close', releaseOnClose)
  })
}, { name: 'gateway-client-holds', dependencies: ['gateway-access', 'gateway-metrics', 'herald-overload'] })
