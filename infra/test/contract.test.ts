// What the deploy files promise the services, checked against the services themselves: the variables
// they read (their TypeBox env schemas), the ports they listen on, the probe routes they serve.
import t, { type Test } from 'tap'
import { IngestEnv, loadIngestConfig } from '../../services/webhook-ingest/dist/config.js'
import { GatewayEnv, loadGatewayConfig } from '../../services/status-gateway/dist/config.js'
import ingestApp from '../../services/webhook-ingest/dist/app.js'
import gatewayApp from '../../services/status-gateway/dist/app.js'
import { createFastify } from '../../packages/service-kit/dist/index.js'
import { TEST_DATABASE_URL, TEST_REDIS_URL, useTestPrefix, useTestSchema } from '../../packages/service-kit/dist/testing.js'
import {
  containerEnv, findObject, interpolate, overlays, parseCompose, parseEnvFile, podContainers, readRepoFile,
  renderOverlay, services, type Container, type ServiceName
} from './helper.ts'

/** The part of a TypeBox object schema this test reads. */
interface EnvSchema { properties: Record<string, { default?: unknown }>, required?: readonly string[] }

const envSchema = (schema: { properties: object, required?: readonly string[] }) => schema as EnvSchema
const schemas: Record<ServiceName, EnvSchema> = { 'webhook-ingest': envSchema(IngestEnv), 'status-gateway': envSchema(GatewayEnv) }
const loaders: Record<ServiceName, (env: Record<string, string>) => { PORT: number }> = {
  'webhook-ingest': loadIngestConfig,
  'status-gateway': loadGatewayConfig
}
/** What the migration CLI (packages/db/src/cli.ts) reads. */
const migrateVariables = ['DATABASE_URL', 'DATABASE_SCHEMA']

const readVariables = (name: ServiceName) => Object.keys(schemas[name].properties)
/** Required and without a default: the process stops unless the deployment sets it. */
const requiredVariables = (name: ServiceName) => (schemas[name].required ?? []).filter((variable) =>
  schemas[name].properties[variable]?.default === undefined)
const defaultPort = (name: ServiceName) => Number(schemas[name].properties.PORT!.default)

function checkVariables (t: Test, where: string, name: ServiceName, env: Record<string, string>): void {
  const unknown = Object.keys(env).filter((variable) => !readVariables(name).includes(variable))
  t.same(unknown, [], `${where}: sets only variables ${name} reads`)
  const missing = requiredVariables(name).filter((variable) => env[variable] === undefined)
  t.same(missing, [], `${where}: sets every variable ${name} requires`)
  t.doesNotThrow(() => loaders[name](env), `${where}: ${name} loads its configuration from it`)
}

t.test('the services\' env schemas are what this test reads', async (t) => {
  t.same(requiredVariables('webhook-ingest').toSorted(), ['DATABASE_URL', 'INTERNAL_WEBHOOK_SECRETS', 'MPESA_CALLBACK_TOKEN', 'PAYHERO_CALLBACK_TOKEN', 'SUBSCRIBE_TOKEN_SECRET'])
  t.same(requiredVariables('status-gateway').toSorted(), ['ADMIN_TOKEN', 'DATABASE_URL', 'SUBSCRIBE_TOKEN_SECRET'])
})

for (const overlay of overlays) {
  t.test(`k8s overlay ${overlay}`, async (t) => {
    const objects = renderOverlay(overlay)
    for (const name of services) {
      t.test(name, async (t) => {
        const deployment = findObject(objects, 'Deployment', name)
        const [container, ...others] = podContainers(deployment)
        t.equal(others.length, 0, 'one container')
        const env = containerEnv(objects, container!, `${name}-7d9f8c6b5-x2x4z`)
        checkVariables(t, `Deployment ${name}`, name, env)

        const port = loaders[name](env).PORT
        t.equal(port, defaultPort(name), 'listens on the service\'s default port')
        const http = container!.ports?.find((p) => p.name === 'http')
        t.equal(http?.containerPort, port, 'containerPort http is the port the service listens on')
        t.match(container!.readinessProbe, { httpGet: { path: '/readyz', port: 'http' } }, 'readiness on /readyz')
        t.match(container!.livenessProbe, { httpGet: { path: '/healthz', port: 'http' } }, 'liveness on /healthz')
        if (container!.startupProbe !== undefined) t.match(container!.startupProbe, { httpGet: { path: '/healthz', port: 'http' } })
        const service = findObject(objects, 'Service', name)
        t.same(service.spec.selector, deployment.spec.selector.matchLabels, 'the Service selects the Deployment\'s pods')
        t.same(service.spec.ports.map((p: any) => p.targetPort), ['http'], 'the Service targets the named port')
        t.match(container!.image, new RegExp(`(^|/)herald/${name}(:|$)`), 'runs its own image')
      })
    }

    t.test('migration Job', async (t) => {
      const job = findObject(objects, 'Job', 'herald-migrate')
      const [container] = podContainers(job)
      const env = containerEnv(objects, container!, 'herald-migrate-abcde')
      t.same(Object.keys(env).filter((variable) => !migrateVariables.includes(variable)), [], 'sets only what the migration CLI reads')
      t.match(env.DATABASE_URL, /^postgres(ql)?:\/\//)
      t.same([...container!.command ?? [], ...container!.args ?? []], ['node', 'dist/cli.js', 'migrate'])
      t.match(container!.image, /(^|\/)herald\/migrate(:|$)/)
    })

    t.test('ConfigMaps hold only variables their consumers read', async (t) => {
      for (const name of services) {
        const container = podContainers(findObject(objects, 'Deployment', name))[0]!
        for (const source of container.envFrom ?? []) {
          const configMap = source.configMapRef?.name
          if (configMap === undefined) continue
          const keys = Object.keys(findObject(objects, 'ConfigMap', configMap).data ?? {})
          t.same(keys.filter((key) => !readVariables(name).includes(key)), [], `${configMap} as read by ${name}`)
        }
      }
    })
  })
}

t.test('compose.yaml', async (t) => {
  const compose = parseCompose()
  const example = parseEnvFile(readRepoFile('infra/.env.example'))

  t.test('every service\'s environment is one it reads and loads', async (t) => {
    for (const name of services) {
      const service = compose.services[name]
      const env = Object.fromEntries(Object.entries(service.environment as Record<string, string | number>)
        .map(([key, value]) => [key, interpolate(String(value), example)]))
      checkVariables(t, `compose ${name}`, name, env)
      const port = loaders[name](env).PORT
      t.same(service.ports, [`${port}:${port}`], `${name} publishes the port it listens on`)
      t.match(service.healthcheck.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${port}/(readyz|healthz)`), `${name} health check asks its own probe route`)
      t.same(service.build.target, name, `${name} is built from its Dockerfile target`)
      t.match(service.depends_on, {
        redis: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' }
      }, `${name} starts after healthy datastores and a finished migration`)
    }
    const migrateEnv = Object.keys(compose.services.migrate.environment)
    t.same(migrateEnv.filter((variable) => !migrateVariables.includes(variable)), [], 'migrate sets only what the migration CLI reads')
    t.same(compose.services.migrate.depends_on, { postgres: { condition: 'service_healthy' } })
    t.equal(compose.services.migrate.build.target, 'migrate')
  })

  t.test('Redis keeps an append-only file, Postgres is 15 or 16, both have health checks', async (t) => {
    const redisCommand = (compose.services.redis.command as string[]).join(' ')
    t.match(redisCommand, /--appendonly yes/)
    t.match(redisCommand, /--appendfsync always/, 'an acknowledged publish survives a Redis crash')
    t.ok(compose.services.redis.volumes.some((volume: string) => volume.endsWith(':/data')), 'the AOF lives on a volume')
    t.match(compose.services.postgres.image, /^postgres:1[56]\b/)
    for (const name of ['redis', 'postgres', ...services]) t.ok(compose.services[name].healthcheck?.test, `${name} has a health check`)
  })

  t.test('no secret is committed: every secret comes from the env file, required', async (t) => {
    const text = readRepoFile('infra/compose.yaml')
    for (const secret of ['POSTGRES_PASSWORD', 'SUBSCRIBE_TOKEN_SECRET', 'PAYHERO_CALLBACK_TOKEN', 'MPESA_CALLBACK_TOKEN', 'INTERNAL_WEBHOOK_SECRETS', 'ADMIN_TOKEN']) {
      t.match(text, new RegExp(`\\$\\{${secret}:\\?`), `${secret} is interpolated and required`)
      t.ok(example[secret] !== undefined, `${secret} is in .env.example`)
    }
    t.throws(() => interpolate(text, {}), /is required/, 'compose refuses to start without them')
  })
})

t.test('the probe routes the manifests name answer in the services', async (t) => {
  const objects = renderOverlay('dev')
  const schema = await useTestSchema(t, 'infra_probes')
  const builders = { 'webhook-ingest': ingestApp, 'status-gateway': gatewayApp }
  for (const name of services) {
    const container: Container = podContainers(findObject(objects, 'Deployment', name))[0]!
    // The dev manifest's environment, pointed at this machine's Postgres and Redis.
    const env = {
      ...containerEnv(objects, container, `${name}-probe-test`),
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      HERALD_REDIS_PREFIX: useTestPrefix(t, `infra-${name}`),
      LOG_LEVEL: 'silent'
    }
    const config = loaders[name](env)
    const app = createFastify({ service: name, logLevel: 'silent' })
    await app.register(builders[name] as any, { config, databaseSchema: schema })
    await app.ready()
    t.teardown(() => app.close())
    for (const probe of ['readinessProbe', 'livenessProbe'] as const) {
      const path = container[probe].httpGet.path as string
      const response = await app.inject({ method: 'GET', url: path })
      t.equal(response.statusCode, 200, `${name} answers ${path} with 200`)
    }
  }
})
