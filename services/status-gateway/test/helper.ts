// Builds the gateway app for one test on its own Postgres schema and Redis prefix; closed in teardown.
import { createFastify, trustedProxies } from '@herald/service-kit'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_SECRETS, checkedLogStream, useTestPrefix, useTestSchema } from '@herald/service-kit/testing'
import gatewayApp from '../src/app.js'
import { loadGatewayConfig, type GatewayConfig } from '../src/config.js'

interface TestContext { teardown (fn: () => unknown): void, name: string }

export interface GatewayTestApp {
  app: Awaited<ReturnType<typeof build>>
  config: GatewayConfig
  schema: string
  prefix: string
}

/** Lets a second gateway share the first one's schema and prefix (two replicas on one Redis). */
export interface SharedStorage {
  schema: string
  prefix: string
}

const logLinesOf = new WeakMap<object, string[]>()

/** The latest log lines of a test app (JSON, debug level and up unless TEST_LOG_LEVEL says otherwise). */
export function logLines (app: object): string[] {
  return logLinesOf.get(app) ?? []
}

async function build (config: GatewayConfig, schema: string) {
  // Every test app logs (at LOG_LEVEL, info by default) into a stream that checks each line: no line may repeat a key.
  const logs = checkedLogStream(process.env.TEST_LOG_LEVEL !== undefined)
  const app = createFastify({ service: 'status-gateway', logLevel: process.env.TEST_LOG_LEVEL ?? config.LOG_LEVEL, logStream: logs.stream, trustedProxies: trustedProxies(config.TRUSTED_PROXIES) })
  app.addHook('onClose', async () => {
    if (logs.problems.length > 0) throw new Error(`log lines with repeated keys:\n${logs.problems.slice(0, 5).join('\n')}`)
  })
  logLinesOf.set(app, logs.lines)
  await app.register(gatewayApp, { config, databaseSchema: schema })
  await app.ready()
  return app
}

let instances = 0

export async function buildGateway (t: TestContext, env: Record<string, string> = {}, shared?: SharedStorage): Promise<GatewayTestApp> {
  const schema = shared?.schema ?? await useTestSchema(t, 'gateway')
  const prefix = shared?.prefix ?? useTestPrefix(t, 'gateway')
  const config = loadGatewayConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    HERALD_REDIS_PREFIX: prefix,
    // Each app of a test process is its own replica, with its own consumer group.
    HERALD_INSTANCE_ID: `test-${process.pid}-${++instances}`,
    GATEWAY_READ_BLOCK_MS: '1000',
    ...TEST_SECRETS,
    ...env
  })
  const app = await build(config, schema)
  t.teardown(() => app.close())
  return { app, config, schema, prefix }
}

/** Listens on an ephemeral port (real HTTP for SSE and concurrent long-polls); returns the base URL. */
export async function listen (app: GatewayTestApp['app']): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' })
}
