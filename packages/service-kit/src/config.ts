// Reads configuration once from the environment against a TypeBox schema; a bad value names its variable.
import Type, { type Static, type TObject, type TProperties } from 'typebox'
import { Value } from 'typebox/value'
import { Compile } from 'typebox/compile'
import { isIP } from 'node:net'

export class ConfigError extends Error {
  readonly variable: string
  constructor (variable: string, message: string) {
    super(`invalid configuration: ${variable} ${message}`)
    this.name = 'ConfigError'
    this.variable = variable
  }
}

/** Variables every Herald service reads. */
export const CommonEnv = {
  HOST: Type.String({ default: '0.0.0.0' }),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'),
    Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
  ], { default: 'info' }),
  /** `pretty`: human-readable lines through pino-pretty (`pnpm start` sets it); `json` everywhere else. */
  LOG_FORMAT: Type.Union([Type.Literal('json'), Type.Literal('pretty')], { default: 'json' }),
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379', pattern: '^(redis|rediss|rediss?\\+cluster)://' }),
  REDIS_CLUSTER_NODES: Type.String({ default: '', pattern: '^$|^[^,:\\s]+:[0-9]+(,[^,:\\s]+:[0-9]+)*$' }),
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://' }),
  PG_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  HERALD_REDIS_PREFIX: Type.String({ default: 'herald', pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
  HERALD_STREAM_SHARDS: Type.Integer({ minimum: 1, maximum: 1024, default: 1 }),
  HERALD_STREAM_RETENTION_MS: Type.Integer({ minimum: 60_000, default: 24 * 3600_000 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
  /** How long a client may take to send a whole request (slow-loris guard); held responses are not bounded by it. */
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1000, maximum: 600_000, default: 30_000 }),
  /** Where OpenTelemetry spans go (OTLP over HTTP, e.g. `http://collector:4318`); empty: tracing off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.String({ default: '', pattern: '^$|^https?://' }),
  /** The commit the build came from, for `*_build_info{commit}` (set by the image build). */
  HERALD_BUILD_COMMIT: Type.String({ default: 'unknown', pattern: '^[A-Za-z0-9._-]{1,64}$' }),
  /** Comma list of proxy IPs/CIDRs whose X-Forwarded-For is believed (Fastify's trustProxy); empty believes none. */
  TRUSTED_PROXIES: Type.String({ default: '' }),
  /** Past this mean event-loop delay the service sheds new work (503 or no new holds); 0 turns the check off. */
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 1000 }),
  /** Past this V8 heap use the service sheds new work; 0 turns the check off. */
  PRESSURE_MAX_HEAP_USED_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  /** Past this resident set size the service sheds new work; 0 turns the check off. */
  PRESSURE_MAX_RSS_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  /** The `Retry-After` of an answer refused under pressure. */
  PRESSURE_RETRY_AFTER_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 10 })
}

/**
 * TRUSTED_PROXIES as Fastify's `trustProxy` list: each entry an IP address or a CIDR, checked here so a
 * typo stops the process with a message naming the variable instead of trusting nobody (or everybody).
 */
export function trustedProxies (value: string): string[] {
  const entries = commaList(value)
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/')
    const family = isIP(address ?? '')
    const maxBits = family === 4 ? 32 : 128
    const prefixOk = bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= maxBits)
    if (family === 0 || !prefixOk || extra !== undefined) throw new ConfigError('TRUSTED_PROXIES', `not an IP address or CIDR: ${JSON.stringify(entry)}`)
  }
  return entries
}

/**
 * `SUBSCRIBE_TOKEN_SECRET`: a comma list of HMAC secrets of 16+ characters (no commas or spaces in one).
 * The first signs new tokens; every one verifies, so a secret is rotated without cutting off clients.
 */
export const SubscribeTokenSecrets = Type.String({ pattern: '^[^,\\s]{16,}(\\s*,\\s*[^,\\s]{16,})*$' })

/** The old services' Redis settings: they build REDIS_URL when it is unset. */
export const LEGACY_REDIS_VARIABLES = ['REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD', 'REDIS_DB'] as const

const isSet = (value: string | undefined): value is string => value !== undefined && value !== ''

/**
 * `redis://[:password@]host:port[/db]` from REDIS_HOST (127.0.0.1), REDIS_PORT (6379), REDIS_PASSWORD and
 * REDIS_DB, as the services Herald replaces were configured; undefined when REDIS_URL is set or none of them is.
 */
export function legacyRedisUrl (env: NodeJS.ProcessEnv): string | undefined {
  if (isSet(env.REDIS_URL) || !LEGACY_REDIS_VARIABLES.some((name) => isSet(env[name]))) return undefined
  const host = isSet(env.REDIS_HOST) ? env.REDIS_HOST.trim() : '127.0.0.1'
  if (!/^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])$/.test(host)) throw new ConfigError('REDIS_HOST', `must be a host name or an IP address (got ${JSON.stringify(env.REDIS_HOST)})`)
  const port = isSet(env.REDIS_PORT) ? env.REDIS_PORT.trim() : '6379'
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new ConfigError('REDIS_PORT', `must be a port number 1-65535 (got ${JSON.stringify(env.REDIS_PORT)})`)
  const db = isSet(env.REDIS_DB) ? env.REDIS_DB.trim() : ''
  if (db !== '' && !/^[0-9]{1,5}$/.test(db)) throw new ConfigError('REDIS_DB', `must be a database number (got ${JSON.stringify(env.REDIS_DB)})`)
  const auth = isSet(env.REDIS_PASSWORD) ? `:${encodeURIComponent(env.REDIS_PASSWORD)}@` : ''
  return `redis://${auth}${host}:${port}${db === '' ? '' : `/${db}`}`
}

/**
 * Validates `env` against `schema` (defaults applied, strings converted to numbers and booleans).
 * Unknown variables are ignored; the first bad one throws a ConfigError naming it.
 */
export function loadConfig<P extends TProperties> (schema: TObject<P>, env: NodeJS.ProcessEnv = process.env): Static<TObject<P>> {
  const input: Record<string, unknown> = {}
  const legacyRedis = 'REDIS_URL' in schema.properties ? legacyRedisUrl(env) : undefined
  for (const key of Object.keys(schema.properties)) {
    const raw = key === 'REDIS_URL' ? legacyRedis ?? env[key] : env[key]
    if (raw !== undefined && raw !== '') input[key] = raw
    else if (raw === '' && (schema.properties[key] as { default?: unknown }).default === '') input[key] = ''
  }
  const withDefaults = Value.Default(schema, input)
  const converted = Value.Convert(schema, withDefaults)
  const check = Compile(schema)
  if (check.Check(converted)) {
    if ('TRUSTED_PROXIES' in schema.properties) trustedProxies(String((converted as Record<string, unknown>).TRUSTED_PROXIES ?? ''))
    return converted as Static<TObject<P>>
  }
  const problems = new Map<string, string>()
  for (const error of check.Errors(converted)) {
    if (error.keyword === 'required') {
      for (const missing of (error.params as { requiredProperties?: string[] }).requiredProperties ?? []) {
        if (!problems.has(missing)) problems.set(missing, 'is required but not set')
      }
      continue
    }
    const variable = error.instancePath.replace(/^\//, '').split('/')[0] ?? '?'
    if (variable !== '' && !problems.has(variable)) problems.set(variable, `${error.message} (got ${JSON.stringify(env[variable])})`)
  }
  const [first, ...rest] = [...problems]
  if (first === undefined) throw new ConfigError('?', 'is invalid')
  const more = rest.map(([variable, problem]) => `; ${variable} ${problem}`).join('')
  throw new ConfigError(first[0], `${first[1]}${more}`)
}

/** Splits a comma list variable into trimmed non-empty items. */
export function commaList (value: string | undefined): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter(Boolean)
}
