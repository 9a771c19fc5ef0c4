// `pnpm start` end to end: both services come up ready, on embedded and on real Postgres, and stop cleanly.
import t from 'tap'
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const launcher = fileURLToPath(new URL('../start.js', import.meta.url))

async function freePort () {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function startHerald (t, extraEnv) {
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-start-'))
  const [ingestPort, gatewayPort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, [launcher], {
    env: { ...process.env, ...extraEnv, HERALD_DATA_DIR: dataDir, INGEST_PORT: String(ingestPort), GATEWAY_PORT: String(gatewayPort), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
    rmSync(dataDir, { recursive: true, force: true })
  })
  const deadline = Date.now() + 90_000
  while (!output.includes('Herald is running') && Date.now() < deadline && child.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.match(output, /Herald is running/, 'the launcher says Herald is running')
  return { child, output: () => output, exited, ingestPort, gatewayPort, dataDir }
}

async function checkEndpoints (t, herald) {
  for (const port of [herald.ingestPort, herald.gatewayPort]) {
    for (const path of ['/healthz', '/readyz']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`)
      t.equal(res.status, 200, `${path} on ${port} answers 200`)
    }
  }
}

t.test('with DATABASE_URL unset, the services run on embedded Postgres', async (t) => {
  const env = { DATABASE_URL: '' }
  const herald = await startHerald(t, env)
  await checkEndpoints(t, herald)
  const secrets = JSON.parse(readFileSync(join(herald.dataDir, 'dev-secrets.json'), 'utf8'))
  t.match(secrets, { ADMIN_TOKEN: String, INTERNAL_WEBHOOK_SECRETS: /^whsec_/ }, 'development secrets are generated and kept')
  t.match(herald.output(), new RegExp(secrets.ADMIN_TOKEN), 'the admin token is printed')
  t.match(secrets, { BACKEND_WEBHOOK_SECRET: /^whsec_/ })

  // A registered order reaches the simulator's back-end receiver, signed (it prints what it verified).
  const body = JSON.stringify({ orderNumber: 'INV-START', totalAmount: 10, currency: 'KES', ticketCount: 1, customer: { email: 'a@example.com', firstName: 'A', lastName: 'B' }, provider: 'mpesa', references: {} })
  const [id, timestamp] = ['msg_start_1', String(Math.floor(Date.now() / 1000))]
  const key = Buffer.from(secrets.INTERNAL_WEBHOOK_SECRETS.split(',')[0].slice('whsec_'.length), 'base64')
  const signature = `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
  const put = await fetch(`http://127.0.0.1:${herald.ingestPort}/v1/orders/ord-start-1`, {
    method: 'PUT', body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }
  })
  t.equal(put.status, 200)
  const deadline = Date.now() + 30_000
  while (!herald.output().includes('order.updated ord-start-1 v1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.match(herald.output(), /\[receiver\] order\.updated ord-start-1 v1 pending/, 'the receiver got the order, signed')
  herald.child.kill('SIGTERM')
  t.equal(await herald.exited, 0, 'SIGTERM stops everything with exit code 0')
})

t.test('with DATABASE_URL set, the services run on that Postgres', async (t) => {
  const herald = await startHerald(t, { DATABASE_URL: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' })
  t.match(herald.output(), /Postgres: postgres:\/\/\*\*\*@127\.0\.0\.1:5432/, 'credentials are not printed')
  await checkEndpoints(t, herald)
  herald.child.kill('SIGINT')
  t.equal(await herald.exited, 0)
})
