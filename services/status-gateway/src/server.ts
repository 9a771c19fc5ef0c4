// Entry point of the status-gateway process.
import { configOrExit, createFastify, runServer, startOrExit, trustedProxies } from '@herald/service-kit'
import { loadGatewayConfig } from './config.js'
import gatewayApp from './app.js'

const config = configOrExit(() => loadGatewayConfig())
const fastify = createFastify({ service: 'status-gateway', logLevel: config.LOG_LEVEL, logFormat: config.LOG_FORMAT, bodyLimit: 16 * 1024, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS, trustedProxies: trustedProxies(config.TRUSTED_PROXIES) })
await startOrExit(async () => {
  await fastify.register(gatewayApp, { config })
  await runServer(fastify, { port: config.PORT, host: config.HOST, graceMs: config.SHUTDOWN_GRACE_MS })
})
