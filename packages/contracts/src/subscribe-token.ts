// Short-lived subscribe tokens: minted by the ingest, checked by the gateway (Node only: uses node:crypto).
import { createHmac, timingSafeEqual } from 'node:crypto'

export type SubscribeScope = 'order' | 'registration' | 'admin'

export interface SubscribeClaims {
  scope: SubscribeScope
  /** The entity the token opens; `*` for admin tokens. */
  id: string
  /** Expiry, epoch milliseconds. */
  exp: number
}

const PREFIX = 'hst1'
/** Unpadded base64url; the signature is exactly one SHA-256 (32 bytes = 43 characters). */
const PAYLOAD = /^[A-Za-z0-9_-]{1,900}$/
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/

function mac (secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(`${PREFIX}.${payload}`).digest()
}

export function signSubscribeToken (secret: string, claims: SubscribeClaims): string {
  const payload = Buffer.from(JSON.stringify({ s: claims.scope, i: claims.id, e: claims.exp })).toString('base64url')
  return `${PREFIX}.${payload}.${mac(secret, payload).toString('base64url')}`
}

/**
 * Returns the claims of a well-signed, unexpired token, or null. Any of `secrets` may have signed it,
 * so a secret can be rotated without cutting off waiting clients.
 */
export function verifySubscribeToken (secrets: readonly string[], token: string, now = Date.now()): SubscribeClaims | null {
  if (typeof token !== 'string' || token.length > 1024) return null
  const parts = token.split('.')
  if (parts.length !== 3 || parts[0] !== PREFIX) return null
  const [, payload, signature] = parts as [string, string, string]
  // A token is exactly its canonical encoding: base64url decoding skips junk and ignores the spare bits
  // of the last character, so without this `<token>!!` or a twiddled last letter would verify too.
  if (!PAYLOAD.test(payload) || !SIGNATURE.test(signature)) return null
  const given = Buffer.from(signature, 'base64url')
  if (given.toString('base64url') !== signature || Buffer.from(payload, 'base64url').toString('base64url') !== payload) return null
  const signedByUs = secrets.some((secret) => {
    const expected = mac(secret, payload)
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
  if (!signedByUs) return null
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  } catch {
    return null
  }
  if (typeof decoded !== 'object' || decoded === null) return null
  const { s, i, e } = decoded as Record<string, unknown>
  if ((s !== 'order' && s !== 'registration' && s !== 'admin') || typeof i !== 'string' || typeof e !== 'number') return null
  if (e <= now) return null
  return { scope: s, id: i, exp: e }
}

/** True when `claims` open `scope`/`id`; an admin token opens everything. */
export function tokenGrants (claims: SubscribeClaims | null, scope: Exclude<SubscribeScope, 'admin'>, id: string): boolean {
  if (claims === null) return false
  if (claims.scope === 'admin') return true
  return claims.scope === scope && claims.id === id
}
