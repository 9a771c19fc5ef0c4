// Builds the ingest app for one test on its own Postgres schema and Redis prefix; closed in teardown.
import { readFileSync } from 'node:fs'
import { createFastify, trustedProxies } from '@herald/service-kit'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_SECRETS, checkedLogStream, useTestPrefix, useTestSchema } from '@herald/service-kit/testing'
import { StreamLayout, createRedisClient, parseStreamEntries, type RedisClient, type StreamEntry } from '@herald/streams'
import type { OrderUpsertBody } from '@herald/contracts'
import ingestApp from '../src/app.js'
import { loadIngestConfig, type IngestConfig } from '../src/config.js'
import { signStandardWebhook } from '@herald/producer'

interface TestContext { teardown (fn: () => unknown): void, name: string }

export interface IngestTestApp {
  app: Awaited<ReturnType<typeof build>>
  config: IngestConfig
  schema: string
  prefix: string
}

export interface BuildOptions {
  /** Reuse another app's Postgres schema and Redis prefix (a second replica, or a restarted process). */
  schema?: string
  prefix?: string
  /** False: commit to the outbox but never publish (a process that dies before publishing). */
  publishing?: boolean
  /** Back-end delivery knobs: a short lease, or a process that never sends. */
  deliveries?: { leaseMs?: number, delivering?: boolean }
}

async function build (config: IngestConfig, schema: string, options: BuildOptions) {
  // Every test app logs (at LOG_LEVEL, info by default) into a stream that checks each line: no line may repeat a key.
  const logs = checkedLogStream(process.env.TEST_LOG_LEVEL !== undefined)
  const app = createFastify({ service: 'webhook-ingest', logLevel: process.env.TEST_LOG_LEVEL ?? config.LOG_LEVEL, logStream: logs.stream, trustedProxies: trustedProxies(config.TRUSTED_PROXIES) })
  app.addHook('onClose', async () => {
    if (logs.problems.length > 0) throw new Error(`log lines with repeated keys:\n${logs.problems.slice(0, 5).join('\n')}`)
  })
  await app.register(ingestApp, { config, databaseSchema: schema, publishing: options.publishing ?? true, deliveries: options.deliveries })
  await app.ready()
  return app
}

export async function buildIngest (t: TestContext, env: Record<string, string> = {}, options: BuildOptions = {}): Promise<IngestTestApp> {
  const schema = options.schema ?? await useTestSchema(t, 'ingest')
  const prefix = options.prefix ?? useTestPrefix(t, 'ingest')
  const config = loadIngestConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    HERALD_REDIS_PREFIX: prefix,
    OUTBOX_SWEEP_INTERVAL_MS: '50',
    ...TEST_SECRETS,
    ...env
  })
  const app = await build(config, schema, options)
  t.teardown(() => app.close())
  return { app, config, schema, prefix }
}

export function fixture (name: string): string {
  return readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')
}

export function fixtureJson<T = Record<string, any>> (name: string): T {
  return JSON.parse(fixture(name)) as T
}

export const INTERNAL_SECRET = TEST_SECRETS.INTERNAL_WEBHOOK_SECRETS.split(',')[0]!

/** Headers of an internal request signed per Standard Webhooks with the test secret. */
export function signedHeaders (body: string, options: { id?: string, timestamp?: Date, secret?: string } = {}): Record<string, string> {
  return { 'content-type': 'application/json', ...signStandardWebhook(options.secret ?? INTERNAL_SECRET, body, options) }
}

export function orderBody (overrides: Partial<OrderUpsertBody> = {}): OrderUpsertBody {
  return {
    orderNumber: 'INV-1',
    totalAmount: 10,
    currency: 'KES',
    ticketCount: 2,
    customer: { email: 'jane.doe@example.com', firstName: 'Jane', lastName: 'Doe', phone: '254709099876' },
    provider: 'mpesa',
    references: {},
    ...overrides
  }
}

type App = IngestTestApp['app']

export async function putOrder (app: App, orderId: string, body: OrderUpsertBody, options: { id?: string } = {}) {
  const payload = JSON.stringify(body)
  return app.inject({ method: 'PUT', url: `/v1/orders/${orderId}`, payload, headers: signedHeaders(payload, options) })
}

export async function postCallback (app: App, provider: 'payhero' | 'mpesa', payload: string, token?: string) {
  const path = token ?? (provider === 'payhero' ? TEST_SECRETS.PAYHERO_CALLBACK_TOKEN : TEST_SECRETS.MPESA_CALLBACK_TOKEN)
  return app.inject({ method: 'POST', url: `/webhooks/${provider}/${path}`, payload, headers: { 'content-type': 'application/json' } })
}

/** A Redis client for reading what the relay wrote, disconnected in teardown. */
export function testRedis (t: TestContext): RedisClient {
  const redis = createRedisClient({ url: TEST_REDIS_URL })
  t.teardown(() => redis.disconnect())
  return redis
}

export async function streamEntries (redis: RedisClient, prefix: string, shards = 1): Promise<StreamEntry[]> {
  const layout = new StreamLayout({ prefix, shards })
  const entries: StreamEntry[] = []
  for (const key of layout.streamKeys()) entries.push(...parseStreamEntries(await redis.xrange(key, '-', '+') as Array<[string, string[]]>))
  return entries
}

/** Polls `check` until it returns true; no timing assertions, just a generous deadline. */
export async function eventually (check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A Daraja STK callback for `checkoutRequestId` with `resultCode` (success carries `amount`). */
export function darajaCallback (checkoutRequestId: string, resultCode: number, amount = 10): string {
  const body = fixtureJson('daraja-stk-success')
  body.Body.stkCallback.CheckoutRequestID = checkoutRequestId
  body.Body.stkCallback.ResultCode = resultCode
  body.Body.stkCallback.ResultDesc = `result ${resultCode}`
  if (resultCode === 0) body.Body.stkCallback.CallbackMetadata.Item[0].Value = amount
  else delete body.Body.stkCallback.CallbackMetadata
  return JSON.stringify(body)
}

export { freePort } from '@herald/service-kit/testing'
