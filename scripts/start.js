// `pnpm start`: runs webhook-ingest and status-gateway on one machine with embedded defaults.
// Postgres: DATABASE_URL, else an embedded PGlite served over the wire protocol. Redis: REDIS_URL, else a
// redis-server started here on a free port. Development secrets are generated once and kept in .data/.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'
import { runMigrations } from '@herald/db'
import { startEmbeddedPostgres } from '@herald/embedded-postgres'
import { legacyRedisUrl } from '@herald/service-kit'

const root = fileURLToPath(new URL('..', import.meta.url))
const dataDir = process.env.HERALD_DATA_DIR ?? `${root}.data`
const env = { ...process.env }
const cleanups = []
const children = []
let stopping = false

function log (message) {
  process.stdout.write(`[herald] ${message}\n`)
}

function fail (message) {
  process.stderr.write(`[herald] ${message}\n`)
  stop(1)
}

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** True when something at host:port answers a Redis PING with PONG. */
function redisAnswers (url) {
  return new Promise((resolve) => {
    let parsed
    try { parsed = new URL(url) } catch { return resolve(false) }
    if (parsed.protocol !== 'redis:') return resolve(true) // TLS or cluster URLs: trust the user
    const socket = connect({ host: parsed.hostname, port: Number(parsed.port || 6379) })
    const timer = setTimeout(() => { socket.destroy(); resolve(false) }, 1000)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => { clearTimeout(timer); socket.destroy(); resolve(/PONG|NOAUTH/.test(String(data))) })
    socket.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

async function ensureRedis () {
  // The old REDIS_HOST / REDIS_PORT / REDIS_PASSWORD / REDIS_DB, when REDIS_URL is unset.
  env.REDIS_URL = legacyRedisUrl(env) ?? (env.REDIS_URL || 'redis://127.0.0.1:6379')
  if (env.REDIS_CLUSTER_NODES || await redisAnswers(env.REDIS_URL)) {
    log(`Redis: ${env.REDIS_URL.replace(/\/\/[^@/]*@/, '//***@')}`)
    return
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    fail(`no Redis answers at ${env.REDIS_URL} and redis-server is not installed.\n` +
      '  Install Redis 7 (e.g. `apt-get install redis-server` or `brew install redis`) or set REDIS_URL.')
    return
  }
  const port = await freePort()
  const dir = `${dataDir}/redis`
  mkdirSync(dir, { recursive: true })
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''], { stdio: 'ignore' })
  cleanups.push(() => redis.kill('SIGTERM'))
  env.REDIS_URL = `redis://127.0.0.1:${port}`
  for (let i = 0; i < 50 && !await redisAnswers(env.REDIS_URL); i++) await delay(100)
  log(`Redis: started redis-server at ${env.REDIS_URL} (data in ${dataDir}/redis)`)
}

async function ensurePostgres () {
  if (env.DATABASE_URL === undefined || env.DATABASE_URL === '') {
    const embedded = await startEmbeddedPostgres({ dataDir: `${dataDir}/pglite` })
    cleanups.push(() => embedded.stop())
    env.DATABASE_URL = embedded.url
    env.PG_POOL_MAX ??= '4'
    log(`Postgres: embedded PGlite (data in ${dataDir}/pglite) at ${embedded.url}`)
  } else {
    log(`Postgres: ${env.DATABASE_URL.replace(/\/\/[^@/]*@/, '//***@')}`)
  }
  await runMigrations(env.DATABASE_URL)
}

/** Development secrets: generated on the first run, then reused so tokens keep working across restarts. */
function ensureSecrets () {
  const file = `${dataDir}/dev-secrets.json`
  const saved = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}
  const generate = {
    PAYHERO_CALLBACK_TOKEN: () => randomBytes(18).toString('base64url'),
    MPESA_CALLBACK_TOKEN: () => randomBytes(18).toString('base64url'),
    INTERNAL_WEBHOOK_SECRETS: () => `whsec_${randomBytes(24).toString('base64')}`,
    SUBSCRIBE_TOKEN_SECRET: () => randomBytes(32).toString('base64url'),
    BACKEND_WEBHOOK_SECRET: () => `whsec_${randomBytes(24).toString('base64')}`,
    ADMIN_TOKEN: () => randomBytes(24).toString('base64url')
  }
  for (const [name, make] of Object.entries(generate)) {
    if (env[name] === undefined || env[name] === '') env[name] = saved[name] ?? make()
    saved[name] = env[name]
  }
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(file, JSON.stringify({ ...saved, INGEST_URL: env.INGEST_URL, GATEWAY_URL: env.GATEWAY_URL }, null, 2) + '\n', { mode: 0o600 })
}

function startService (name, entry, port, extraEnv = {}) {
  const child = spawn(process.execPath, [`${root}${entry}`], {
    // Readable lines on a console; LOG_FORMAT=json keeps the JSON a log pipeline reads.
    env: { ...env, PORT: String(port), HOST: env.HOST ?? '127.0.0.1', LOG_FORMAT: env.LOG_FORMAT || 'pretty', ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  children.push(child)
  child.on('exit', (code, signal) => {
    if (!stopping) fail(`${name} exited (${signal ?? code}); stopping`)
  })
  return child
}

/**
 * Without BACKEND_WEBHOOK_URLS, the simulator's small back-end receives the outbound webhooks and prints
 * one line per update, so the loop from callback to back-end can be watched. HERALD_RECEIVER=off skips it.
 */
async function startReceiver () {
  if ((env.BACKEND_WEBHOOK_URLS ?? '') !== '' || env.HERALD_RECEIVER === 'off') return
  const port = Number(env.RECEIVER_PORT ?? await freePort())
  startService('back-end receiver', 'packages/simulator/dist/receive-cli.js', port, { RECEIVER_PORT: String(port) })
  env.BACKEND_WEBHOOK_URLS = `http://127.0.0.1:${port}/herald`
}

async function waitReady (url) {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${url}/readyz`)
      if (res.status === 200) return true
    } catch {}
    await delay(100)
  }
  return false
}

async function stop (code = 0) {
  if (stopping) return
  stopping = true
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', resolve)
    child.kill('SIGTERM')
  })))
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup() } catch {}
  }
  process.exit(code)
}

process.on('SIGINT', () => { log('stopping'); stop(0) })
process.on('SIGTERM', () => { log('stopping'); stop(0) })

const ingestPort = Number(env.INGEST_PORT ?? 3001)
const gatewayPort = Number(env.GATEWAY_PORT ?? 3002)
const host = env.PUBLIC_HOST ?? 'localhost'
env.INGEST_URL = `http://${host}:${ingestPort}`
env.GATEWAY_URL = `http://${host}:${gatewayPort}`

await ensureRedis()
if (!stopping) {
  await ensurePostgres()
  ensureSecrets()
  await startReceiver()
  startService('webhook-ingest', 'services/webhook-ingest/dist/server.js', ingestPort)
  startService('status-gateway', 'services/status-gateway/dist/server.js', gatewayPort)
  const ready = await Promise.all([waitReady(`http://127.0.0.1:${ingestPort}`), waitReady(`http://127.0.0.1:${gatewayPort}`)])
  if (!ready.every(Boolean)) {
    fail('a service did not become ready within 30 s')
  } else {
    log('Herald is running')
    log(`  webhook-ingest: ${env.INGEST_URL}   (PayHero: ${env.INGEST_URL}/webhooks/payhero/${env.PAYHERO_CALLBACK_TOKEN}, M-PESA: ${env.INGEST_URL}/webhooks/mpesa/${env.MPESA_CALLBACK_TOKEN})`)
    log(`  status-gateway: ${env.GATEWAY_URL}   (dashboard: ${env.GATEWAY_URL}/?token=${env.ADMIN_TOKEN})`)
    log(`  admin token: ${env.ADMIN_TOKEN}`)
    log(`  back-end webhooks: ${env.BACKEND_WEBHOOK_URLS || '(none)'}   pull feed: ${env.INGEST_URL}/v1/events (Bearer admin token)`)
    log(`  development secrets: ${dataDir}/dev-secrets.json   Ctrl-C stops`)
  }
}
