// Standard Webhooks signatures (HMAC-SHA256 over id.timestamp.body, `whsec_` secrets): Herald's one signer.
import { randomUUID } from 'node:crypto'
import { signWebhook, webhookSecretKey } from '@herald/contracts/standard-webhooks'

// A type alias, not an interface: it must fit where headers are a string record.
export type StandardWebhookHeaders = {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** A fresh webhook-id: the ingest applies each id once, so one logical call keeps one id across retries. */
export function newWebhookId (): string {
  return `msg_${randomUUID()}`
}

/**
 * Signs a request body for Herald's internal endpoints. `body` must be sent byte for byte as signed;
 * `secret` is one of the ingest's INTERNAL_WEBHOOK_SECRETS.
 */
export function signStandardWebhook (secret: string, body: string, options: { id?: string, timestamp?: Date } = {}): StandardWebhookHeaders {
  const id = options.id ?? newWebhookId()
  const timestamp = options.timestamp ?? new Date()
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': signWebhook(webhookSecretKey(secret), id, Math.floor(timestamp.getTime() / 1000), body)
  }
}
