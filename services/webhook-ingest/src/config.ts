// webhook-ingest configuration, read once from the environment.
import Type, { type Static } from 'typebox'
import { CommonEnv, loadConfig } from '@herald/service-kit'

export const IngestEnv = Type.Object({
  ...CommonEnv,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3001 }),
  PAYHERO_CALLBACK_TOKEN: Type.String({ minLength: 16 }),
  MPESA_CALLBACK_TOKEN: Type.String({ minLength: 16 }),
  /** Comma list of IPs or CIDRs allowed to call the M-PESA webhook; empty allows all. */
  MPESA_ALLOWED_IPS: Type.String({ default: '' }),
  /** Comma list of proxy IPs/CIDRs whose X-Forwarded-For is believed; empty believes none. */
  TRUSTED_PROXIES: Type.String({ default: '' }),
  /** Comma list of `whsec_…` secrets; any of them verifies (rotation). */
  INTERNAL_WEBHOOK_SECRETS: Type.String({ pattern: '^whsec_[A-Za-z0-9+/=]+(,\\s*whsec_[A-Za-z0-9+/=]+)*$' }),
  SUBSCRIBE_TOKEN_SECRET: Type.String({ minLength: 16 }),
  SUBSCRIBE_TOKEN_TTL_MS: Type.Integer({ minimum: 1000, default: 3600_000 }),
  /** How often the relay sweeps unpublished outbox rows. */
  OUTBOX_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 10, default: 500 }),
  /**
   * Published outbox rows and webhook-id receipts older than this are deleted. Longer than producers
   * retry a webhook-id: a replay after it would be applied again.
   */
  HERALD_RECORD_RETENTION_MS: Type.Integer({ minimum: 3600_000, default: 7 * 24 * 3600_000 })
})
export type IngestConfig = Static<typeof IngestEnv>

export function loadIngestConfig (env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return loadConfig(IngestEnv, env)
}
