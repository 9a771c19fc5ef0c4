// Standard Webhooks signatures for Herald's internal producer API (what a back office would send).
import { randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'

export interface SignedHeaders {
  'content-type': 'application/json'
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

export class InternalSigner {
  readonly #webhook: Webhook

  /** `secret` is a `whsec_…` secret, one of the ingest's INTERNAL_WEBHOOK_SECRETS. */
  constructor (secret: string) {
    this.#webhook = new Webhook(secret)
  }

  /** Headers for `body`, with a fresh webhook-id so the ingest's dedupe treats each call as new. */
  headers (body: string, webhookId: string = `msg_${randomUUID()}`, at = new Date()): SignedHeaders {
    return {
      'content-type': 'application/json',
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': this.#webhook.sign(webhookId, at, body)
    }
  }
}
