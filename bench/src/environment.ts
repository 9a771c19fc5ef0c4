// One run's private world: a fresh Postgres schema, a fresh Redis key prefix and generated secrets,
// all removed again by close().
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { dropSchema, runMigrations } from '@herald/db'
import { deleteRedisPrefix } from '@herald/service-kit/testing'

export interface BenchSecrets {
  PAYHERO_CALLBACK_TOKEN: string
  MPESA_CALLBACK_TOKEN: string
  INTERNAL_WEBHOOK_SECRETS: string
  SUBSCRIBE_TOKEN_SECRET: string
  ADMIN_TOKEN: string
}

export interface BenchEnvironmentOptions {
  databaseUrl: string
  redisUrl: string
  /** Postgres settings for the services' sessions (experiments such as `synchronous_commit=off`). */
  postgresSettings?: readonly string[]
}

/**
 * `url` with `-c search_path=<schema>` (and any `settings`, e.g. `synchronous_commit=off`) in its `options`
 * parameter, which pg sends as startup options.
 */
export function withSearchPath (url: string, schema: string, settings: readonly string[] = []): string {
  const separator = url.includes('?') ? '&' : '?'
  const options = [`search_path=${schema}`, ...settings].map((setting) => `-c ${setting}`).join(' ')
  return `${url}${separator}options=${encodeURIComponent(options)}`
}

export function generateSecrets (): BenchSecrets {
  return {
    PAYHERO_CALLBACK_TOKEN: randomBytes(18).toString('base64url'),
    MPESA_CALLBACK_TOKEN: randomBytes(18).toString('base64url'),
    INTERNAL_WEBHOOK_SECRETS: `whsec_${randomBytes(24).toString('base64')}`,
    SUBSCRIBE_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    ADMIN_TOKEN: randomBytes(24).toString('base64url')
  }
}

export class BenchEnvironment {
  readonly runId: string
  readonly schema: string
  readonly redisPrefix: string
  readonly secrets: BenchSecrets
  readonly databaseUrl: string
  readonly redisUrl: string
  /** DATABASE_URL for the services: the run's schema is their search_path. */
  readonly serviceDatabaseUrl: string
  #migrated = false
  #closed = false

  constructor (options: BenchEnvironmentOptions) {
    const tag = randomBytes(4).toString('hex')
    this.runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${tag}`
    this.schema = `bench_${tag}`
    this.redisPrefix = `bench-${tag}`
    this.secrets = generateSecrets()
    this.databaseUrl = options.databaseUrl
    this.redisUrl = options.redisUrl
    this.serviceDatabaseUrl = withSearchPath(options.databaseUrl, this.schema, options.postgresSettings)
  }

  async prepare (): Promise<void> {
    this.#migrated = true
    await runMigrations(this.databaseUrl, this.schema)
  }

  /** Environment variables shared by both services. */
  serviceEnv (): Record<string, string> {
    return {
      ...this.secrets,
      DATABASE_URL: this.serviceDatabaseUrl,
      REDIS_URL: this.redisUrl,
      HERALD_REDIS_PREFIX: this.redisPrefix,
      HOST: '127.0.0.1'
    }
  }

  /** A plain Redis connection for the bench's own observations (INFO, CLIENT LIST). */
  redis (): Redis {
    return new Redis(this.redisUrl, { connectionName: `herald-bench-observer-${this.redisPrefix}`, maxRetriesPerRequest: 2 })
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const failures: unknown[] = []
    if (this.#migrated) await dropSchema(this.databaseUrl, this.schema).catch((err: unknown) => failures.push(err))
    await deleteRedisPrefix(this.redisUrl, this.redisPrefix).catch((err: unknown) => failures.push(err))
    if (failures.length > 0) throw new AggregateError(failures, 'bench cleanup failed')
  }
}
