// The built ingest and gateway apps in this process (app.inject, or listening on an ephemeral port) on
// one test's schema and prefix, for fuzzing: thousands of requests without process start-up costs.
import { createFastify } from '@herald/service-kit'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_SECRETS } from '@herald/service-kit/testing'
import { ingestApp, loadIngestConfig } from '@herald/webhook-ingest'
import { gatewayApp, loadGatewayConfig } from '@herald/status-gateway'
import type { HeraldStorage, Teardown } from './processes.js'

export async function buildIngestApp (t: Teardown, storage: HeraldStorage, env: Record<string, string> = {}) {
  const config = loadIngestConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    HERALD_REDIS_PREFIX: storage.prefix,
    OUTBOX_SWEEP_INTERVAL_MS: '100',
    ...TEST_SECRETS,
    ...env
  })
  // The body limit and timeouts of server.ts: the app is what production runs, not a test variant.
  const app = createFastify({ service: 'webhook-ingest', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', bodyLimit: 64 * 1024 })
  await app.register(ingestApp, { config, databaseSchema: storage.schema })
  await app.ready()
  t.teardown(() => app.close())
  return app
}

let instances = 0

export async function buildGatewayApp (t: Teardown, storage: HeraldStorage, env: Record<string, string> = {}) {
  const config = loadGatewayConfig({
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    HERALD_REDIS_PREFIX: storage.prefix,
    HERALD_INSTANCE_ID: `fuzz-${process.pid}-${++instances}`,
    GATEWAY_READ_BLOCK_MS: '1000',
    SSE_PING_INTERVAL_MS: '1000',
    // One test process stands for many clients on one address: the per-client cap would refuse them.
    GATEWAY_MAX_HOLDS_PER_CLIENT: '0',
    GATEWAY_RATE_LIMIT_PER_MINUTE: '0',
    ...TEST_SECRETS,
    ...env
  })
  const app = createFastify({ service: 'status-gateway', logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', bodyLimit: 16 * 1024 })
  await app.register(gatewayApp, { config, databaseSchema: storage.schema })
  await app.ready()
  t.teardown(() => app.close())
  return app
}
