// Entry point of the webhook-ingest process.
import { configOrExit, createFastify, runServer, startOrExit, trustedProxies } from '@herald/service-kit'
import { loadIngestConfig } from './config.js'
import ingestApp from './app.js'

const config = configOrExit(() => loadIngestConfig())
const fastify = createFastify({ service: 'webhook-ingest', logLevel: config.LOG_LEVEL, logFormat: config.LOG_FORMAT, bodyLimit: 64 * 1024, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS, trustedProxies: trustedProxies(config.TRUSTED_PROXIES) })
await startOrExit(async () => {
  await fastify.register(ingestApp, { config })
  await runServer(fastify, { port: config.PORT, host: config.HOST, graceMs: config.SHUTDOWN_GRACE_MS })
})
