// Who may read what: subscribe tokens bound to one entity, the admin token, and legacy anonymous access.
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { createHash, timingSafeEqual } from 'node:crypto'
import { tokenGrants, verifySubscribeToken } from '@herald/contracts/subscribe-token'
import { ForbiddenError, UnauthorizedError, commaList } from '@herald/service-kit'
import type { GatewayConfig } from '../../config.js'

export interface ReaderAccess {
  /** Customer details may be shown: the token opens this entity (or is an admin token). */
  showCustomer: boolean
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/** The token of a request: `Authorization: Bearer …`, else `?token=` (EventSource cannot set headers). */
export function tokenOf (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7).trim()
  const query = request.query as { token?: unknown } | undefined
  return typeof query?.token === 'string' && query.token !== '' ? query.token : undefined
}

export function createAccessPolicy (config: Pick<GatewayConfig, 'ADMIN_TOKEN' | 'SUBSCRIBE_TOKEN_SECRET' | 'GATEWAY_ANONYMOUS'>) {
  const adminDigest = digest(config.ADMIN_TOKEN)
  // Every secret of the list verifies, so tokens signed before a rotation keep working until they expire.
  const secrets = commaList(config.SUBSCRIBE_TOKEN_SECRET)

  function isAdminToken (token: string): boolean {
    // Comparing digests keeps the comparison constant-time whatever the length of the token given.
    return timingSafeEqual(digest(token), adminDigest)
  }

  function isAdmin (token: string | undefined): boolean {
    if (token === undefined) return false
    if (isAdminToken(token)) return true
    return verifySubscribeToken(secrets, token)?.scope === 'admin'
  }

  return {
    /**
     * Opens one order or registration, or throws 401 (no or bad token) / 403 (a token for another entity).
     * In anonymous mode a request without a working token still reads the status, never the customer.
     */
    authorize (request: FastifyRequest, scope: 'order' | 'registration', id: string): ReaderAccess {
      const token = tokenOf(request)
      if (token !== undefined) {
        if (isAdminToken(token)) return { showCustomer: true }
        const claims = verifySubscribeToken(secrets, token)
        if (tokenGrants(claims, scope, id)) return { showCustomer: true }
        if (config.GATEWAY_ANONYMOUS) return { showCustomer: false }
        if (claims === null) throw new UnauthorizedError('The subscribe token is invalid or expired')
        throw new ForbiddenError(`The subscribe token does not open this ${scope}`)
      }
      if (config.GATEWAY_ANONYMOUS) return { showCustomer: false }
      throw new UnauthorizedError('A subscribe token is required (Authorization: Bearer … or ?token=)')
    },

    /**
     * The admin feeds (every registration, every order) and the replica's stats: the admin token only,
     * anonymous mode or not. `what` names the resource in the error.
     */
    authorizeAdmin (request: FastifyRequest, what: string): void {
      const token = tokenOf(request)
      if (token === undefined) throw new UnauthorizedError(`The admin token is required for ${what}`)
      if (isAdmin(token)) return
      if (verifySubscribeToken(secrets, token) === null) throw new UnauthorizedError('The token is invalid or expired')
      throw new ForbiddenError(`${what[0]!.toUpperCase()}${what.slice(1)} needs the admin token`)
    }
  }
}

export type AccessPolicy = ReturnType<typeof createAccessPolicy>

declare module 'fastify' {
  interface FastifyInstance {
    access: AccessPolicy
  }
}

export default fp(async (fastify) => {
  fastify.decorate('access', createAccessPolicy(fastify.config))
}, { name: 'gateway-access' })
