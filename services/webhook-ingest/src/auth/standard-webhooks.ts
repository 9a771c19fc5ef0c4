// Internal producers sign per Standard Webhooks (HMAC-SHA256 over id.timestamp.body, whsec_ secrets);
// @herald/producer is the signing side.
import type { KeyObject } from 'node:crypto'
import { checkWebhook, webhookSecretKey } from '@herald/contracts/standard-webhooks'

// A type alias, not an interface: it must fit where headers are a string record.
export type StandardWebhookHeaders = {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** `stale` tells a timestamp outside the tolerance apart from a signature that does not match. */
export type VerifyResult = { ok: true, webhookId: string } | { ok: false, reason: string, stale?: boolean }

const REASONS = {
  malformed: 'malformed signature headers',
  stale: 'webhook-timestamp is outside the 5 minute tolerance',
  mismatch: 'signature does not match'
} as const

/**
 * Verifies against every configured secret, so a secret can be rotated: add the new one, move the
 * producers, then remove the old one. A timestamp more than 5 minutes from now is refused.
 */
export class StandardWebhookVerifier {
  readonly #keys: KeyObject[]

  constructor (secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('INTERNAL_WEBHOOK_SECRETS: at least one secret is required')
    this.#keys = secrets.map((secret) => webhookSecretKey(secret))
  }

  verify (rawBody: string, headers: Record<string, string | string[] | undefined>): VerifyResult {
    const id = single(headers['webhook-id'])
    const timestamp = single(headers['webhook-timestamp'])
    const signature = single(headers['webhook-signature'])
    if (id === undefined || timestamp === undefined || signature === undefined) {
      return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header' }
    }
    if (id.length > 256) return { ok: false, reason: 'webhook-id is too long' }
    const check = checkWebhook(this.#keys, id, timestamp, signature, rawBody)
    if (check.ok) return { ok: true, webhookId: id }
    return check.reason === 'stale' ? { ok: false, reason: REASONS.stale, stale: true } : { ok: false, reason: REASONS[check.reason] }
  }
}

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
