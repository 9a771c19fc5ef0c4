import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { buildIngest } from './helper.js'

t.test('healthz and readyz answer 200 with Redis and Postgres up', async (t) => {
  const { app } = await buildIngest(t)
  const health = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', shuttingDown: false, checks: { postgres: 'ok', redis: 'ok' } })
})

t.test('readyz names the dependency that is down: Redis down is degraded (callbacks still taken), Postgres down is not ready', async (t) => {
  const withoutRedis = await buildIngest(t, { REDIS_URL: 'redis://127.0.0.1:1' })
  const degraded = await withoutRedis.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(degraded.statusCode, 200)
  t.match(degraded.json(), { status: 'degraded', checks: { redis: 'down', postgres: 'ok' } })
  const withoutPostgres = await buildIngest(t, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' })
  const down = await withoutPostgres.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(down.statusCode, 503)
  t.match(down.json(), { status: 'not_ready', checks: { redis: 'ok', postgres: 'down' } })
})

t.test('metrics are Prometheus text and the OpenAPI document is served', async (t) => {
  const { app } = await buildIngest(t)
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.body, /process_cpu_user_seconds_total/)
  const openapi = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(openapi.statusCode, 200)
  t.match(openapi.json(), { openapi: '3.1.0' })
})

t.test('an unknown route answers 404 with the error body', async (t) => {
  const { app } = await buildIngest(t)
  const res = await app.inject({ method: 'GET', url: '/nope' })
  t.equal(res.statusCode, 404)
  t.match(res.json(), { success: false, code: 'HERALD_ERR_ROUTE_NOT_FOUND', error: /nope/ })
})

t.test('an invalid variable stops the process with a message naming it', async (t) => {
  const entry = fileURLToPath(new URL('../dist/server.js', import.meta.url))
  const result = spawnSync(process.execPath, [entry], {
    env: { PATH: process.env.PATH, PORT: 'abc', DATABASE_URL: 'postgres://x@127.0.0.1/x' },
    encoding: 'utf8',
    timeout: 20_000
  })
  t.not(result.status, 0, 'exits non-zero')
  t.match(result.stderr, /PORT/, 'names PORT')
})

t.test('every answer carries the API security headers: nosniff, no referrer, nothing loads, never framed', async (t) => {
  const { app } = await buildIngest(t)
  const answers = [
    await app.inject({ method: 'GET', url: '/healthz' }),
    await app.inject({ method: 'GET', url: '/metrics' }),
    await app.inject({ method: 'POST', url: '/webhooks/mpesa/wrong-token', payload: {} }),
    await app.inject({ method: 'GET', url: '/nope' })
  ]
  for (const res of answers) {
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${res.statusCode}`)
    t.equal(res.headers['referrer-policy'], 'no-referrer')
    t.match(String(res.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/)
    t.equal(res.headers['x-frame-options'], 'DENY')
  }
})

t.test('GET /documentation serves the API reference page over /openapi.json', async (t) => {
  const { app } = await buildIngest(t)
  const page = await app.inject({ url: '/documentation/' })
  t.equal(page.statusCode, 200)
  t.match(page.body, /swagger-ui/)
  t.equal((await app.inject({ url: '/documentation/json' })).json().info.title, 'Herald webhook-ingest')
})
