// status-gateway configuration, read once from the environment.
import Type, { type Static } from 'typebox'
import { hostname } from 'node:os'
import { CommonEnv, ConfigError, SubscribeTokenSecrets, loadConfig } from '@herald/service-kit'

export const GatewayEnv = Type.Object({
  ...CommonEnv,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3002 }),
  /** Names this replica's consumer group; default hostname plus pid. */
  HERALD_INSTANCE_ID: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,100}$', default: `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '_') }),
  /** Comma list of secrets; any of them verifies (rotation). */
  SUBSCRIBE_TOKEN_SECRET: SubscribeTokenSecrets,
  ADMIN_TOKEN: Type.String({ minLength: 16 }),
  /**
   * Lets legacy frontends read order and registration status without a token. Off by default. Customer
   * details still need a token that opens the order; the admin feeds (every registration, every order) still need the admin token.
   */
  GATEWAY_ANONYMOUS: Type.Boolean({ default: false }),
  /** Comma list of allowed browser origins; empty disables CORS. */
  GATEWAY_CORS_ORIGINS: Type.String({ default: '' }),
  /**
   * Long-polls and SSE streams one client may hold open on a replica, counted by client address and by
   * token (each on its own); past it a 429 with Retry-After. 0 turns the cap off.
   */
  GATEWAY_MAX_HOLDS_PER_CLIENT: Type.Integer({ minimum: 0, default: 100 }),
  /**
   * Requests one client address may make a minute, counted in Redis so replicas share the count; past it
   * a 429 RATE_LIMITED with Retry-After, before any token is checked. Probes and metrics are exempt; 0 off.
   */
  GATEWAY_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 0, default: 1200 }),
  LONGPOLL_DEFAULT_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 60_000 }),
  LONGPOLL_MAX_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 120_000 }),
  SSE_PING_INTERVAL_MS: Type.Integer({ minimum: 100, default: 30_000 }),
  /** A client whose unsent bytes pass this is disconnected (it reconnects and resumes). */
  SSE_MAX_BUFFER_BYTES: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
  /** The `retry:` hint sent with a `closing` message. */
  SSE_RETRY_MS: Type.Integer({ minimum: 0, default: 3000 }),
  /** With Redis down, how often held long-polls re-check Postgres. */
  LONGPOLL_DB_RECHECK_MS: Type.Integer({ minimum: 50, default: 2000 }),
  /** How long one blocking XREADGROUP waits; the watchdog allows this plus a margin. */
  GATEWAY_READ_BLOCK_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 5000 }),
  GATEWAY_READ_COUNT: Type.Integer({ minimum: 1, maximum: 10_000, default: 200 }),
  /** How often this replica records that it is alive and sweeps the groups of replicas that are gone. */
  GATEWAY_HEARTBEAT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** A replica not seen for this long is gone: its consumer groups are destroyed. */
  GATEWAY_GROUP_IDLE_MS: Type.Integer({ minimum: 1000, default: 10 * 60_000 })
})
export type GatewayConfig = Static<typeof GatewayEnv>

export function loadGatewayConfig (env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const config = loadConfig(GatewayEnv, env)
  if (config.LONGPOLL_DEFAULT_TIMEOUT_MS > config.LONGPOLL_MAX_TIMEOUT_MS) {
    throw new ConfigError('LONGPOLL_DEFAULT_TIMEOUT_MS', `must not exceed LONGPOLL_MAX_TIMEOUT_MS (${config.LONGPOLL_MAX_TIMEOUT_MS})`)
  }
  return config
}
