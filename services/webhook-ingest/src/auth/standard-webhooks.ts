// Internal producers sign per Standard Webhooks (HMAC-SHA256 over id.timestamp.body, whsec_ secrets);
// @herald/producer is the signing side.
import { Webhook, WebhookVerificationError } from 'standardwebhooks'

// A type alias, not an interface: it must fit where headers are a string record.
export type StandardWebhookHeaders = {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** `stale` tells a timestamp outside the tolerance apart from a signature that does not match. */
export type VerifyResult = { ok: true, webhookId: string } | { ok: false, reason: string, stale?: boolean }

/**
 * Verifies against every configured secret, so a secret can be rotated: add the new one, move the
 * producers, then remove the old one. The library enforces the 5 minute timestamp tolerance.
 */
export class StandardWebhookVerifier {
  readonly #webhooks: Webhook[]

  constructor (secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('INTERNAL_WEBHOOK_SECRETS: at least one secret is required')
    this.#webhooks = secrets.map((secret) => new Webhook(secret))
  }

  verify (rawBody: string, headers: Record<string, string | string[] | undefined>): VerifyResult {
    const id = single(headers['webhook-id'])
    const timestamp = single(headers['webhook-timestamp'])
    const signature = single(headers['webhook-signature'])
    if (id === undefined || timestamp === undefined || signature === undefined) {
      return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header' }
    }
    if (id.length > 256) return { ok: false, reason: 'webhook-id is too long' }
    const wanted = { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }
    let reason = 'signature does not match'
    for (const webhook of this.#webhooks) {
      try {
        webhook.verify(rawBody, wanted, { jsonParse: false })
        return { ok: true, webhookId: id }
      } catch (err) {
        if (!(err instanceof WebhookVerificationError)) throw err
        // The timestamp check comes first and is the same for every secret: say so rather than "no match".
        if (/timestamp/i.test(err.message)) return { ok: false, reason: 'webhook-timestamp is outside the 5 minute tolerance', stale: true }
        if (/header/i.test(err.message)) reason = 'malformed signature headers'
      }
    }
    return { ok: false, reason }
  }
}

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
