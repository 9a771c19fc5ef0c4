// webhook-ingest configuration, read once from the environment.
import Type, { type Static } from 'typebox'
import { CommonEnv, ConfigError, SubscribeTokenSecrets, commaList, loadConfig } from '@herald/service-kit'
import { DEFAULT_RETRY_SCHEDULE_MS } from './deliveries/schedule.js'

export const IngestEnv = Type.Object({
  ...CommonEnv,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3001 }),
  PAYHERO_CALLBACK_TOKEN: Type.String({ minLength: 16 }),
  MPESA_CALLBACK_TOKEN: Type.String({ minLength: 16 }),
  /** Comma list of IPs or CIDRs allowed to call the M-PESA webhook; empty allows all. */
  MPESA_ALLOWED_IPS: Type.String({ default: '' }),
  /** Comma list of `whsec_…` secrets; any of them verifies (rotation). */
  INTERNAL_WEBHOOK_SECRETS: Type.String({ pattern: '^whsec_[A-Za-z0-9+/=]+(,\\s*whsec_[A-Za-z0-9+/=]+)*$' }),
  /** Comma list: the first signs, all verify (rotation). */
  SUBSCRIBE_TOKEN_SECRET: SubscribeTokenSecrets,
  SUBSCRIBE_TOKEN_TTL_MS: Type.Integer({ minimum: 1000, default: 3600_000 }),
  /** Most writes (callbacks, events, upserts) one group-commit transaction carries. */
  INGEST_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 64 }),
  /** Most group-commit transactions in flight at once; writes arriving meanwhile gather for the next. */
  INGEST_BATCHES_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
  /** How often the relay sweeps unpublished outbox rows. */
  OUTBOX_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 10, default: 500 }),
  /**
   * How often the reconciler compares Redis with the outbox and republishes what Redis lost; 0 turns it
   * off. Replicas take turns (a Postgres advisory lock).
   */
  OUTBOX_RECONCILE_INTERVAL_MS: Type.Integer({ minimum: 0, default: 2000 }),
  /** The reconciler compares the entities with an outbox row this recent (its cost grows with it). */
  OUTBOX_RECONCILE_WINDOW_MS: Type.Integer({ minimum: 1000, default: 3600_000 }),
  /**
   * Published outbox rows and webhook-id receipts older than this are deleted. Longer than producers
   * retry a webhook-id: a replay after it would be applied again.
   */
  HERALD_RECORD_RETENTION_MS: Type.Integer({ minimum: 3600_000, default: 7 * 24 * 3600_000 }),
  /** Reads the pull feed and the delivery admin API as a Bearer token; empty: only signed requests may. */
  ADMIN_TOKEN: Type.String({ default: '', pattern: '^$|^.{16,}$' }),
  /** Comma list of back-end URLs that receive every committed change, signed; empty sends none. */
  BACKEND_WEBHOOK_URLS: Type.String({ default: '', pattern: '^$|^https?://[^,\\s]+(\\s*,\\s*https?://[^,\\s]+)*$' }),
  /** Comma list of `whsec_…` secrets the outbound webhooks are signed with (each signs: rotation). */
  BACKEND_WEBHOOK_SECRET: Type.String({ default: '', pattern: '^$|^whsec_[A-Za-z0-9+/=]+(,\\s*whsec_[A-Za-z0-9+/=]+)*$' }),
  /** Comma list of event types sent (order.updated, registration.updated); empty sends both. */
  BACKEND_WEBHOOK_EVENTS: Type.String({ default: '', pattern: '^$|^(order|registration)\\.updated(\\s*,\\s*(order|registration)\\.updated)*$' }),
  /** Delays in ms before each delivery attempt; after the last, the event is dead-lettered. */
  BACKEND_WEBHOOK_RETRY_MS: Type.String({ default: DEFAULT_RETRY_SCHEDULE_MS.join(','), pattern: '^[0-9]+(\\s*,\\s*[0-9]+)*$' })
})
export type IngestConfig = Static<typeof IngestEnv>

export function loadIngestConfig (env: NodeJS.ProcessEnv = process.env): IngestConfig {
  const config = loadConfig(IngestEnv, env)
  if (config.BACKEND_WEBHOOK_URLS !== '' && config.BACKEND_WEBHOOK_SECRET === '') {
    throw new ConfigError('BACKEND_WEBHOOK_SECRET', 'is required when BACKEND_WEBHOOK_URLS is set (a whsec_ secret the back-end verifies with)')
  }
  // The ingest only signs subscribe tokens, with the first secret; the others are for the gateway to verify.
  return { ...config, SUBSCRIBE_TOKEN_SECRET: commaList(config.SUBSCRIBE_TOKEN_SECRET)[0]! }
}
