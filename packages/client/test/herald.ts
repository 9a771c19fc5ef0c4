// Runs a real Herald for a test: the built webhook-ingest and status-gateway as child processes on free
// ports, on this test's own Postgres schema and Redis prefix. The gateway can be restarted on its port.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_SECRETS, freePort, useTestPrefix, useTestSchema } from '@herald/service-kit/testing'
import { HeraldProducer, type HeraldTarget } from '@herald/simulator'

interface TestContext { teardown (fn: () => unknown): void, name: string }

const root = fileURLToPath(new URL('../../../', import.meta.url))

export { freePort }

export interface RunningHerald {
  ingestUrl: string
  gatewayUrl: string
  target: HeraldTarget
  producer: HeraldProducer
  adminToken: string
  stopGateway (): Promise<void>
  startGateway (): Promise<void>
}

async function waitReady (url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before it was ready:\n${output()}`)
    try {
      const res = await fetch(`${url}/readyz`)
      if (res.status === 200) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${url} was not ready within 60 s:\n${output()}`)
}

export async function startHerald (t: TestContext, env: Record<string, string> = {}): Promise<RunningHerald> {
  const schema = await useTestSchema(t, 'client')
  const prefix = useTestPrefix(t, 'client')
  const database = new URL(TEST_DATABASE_URL)
  // Both services put this schema first on the search path, as their test helpers do in-process.
  database.searchParams.set('options', `-c search_path=${schema}`)
  const [ingestPort, gatewayPort] = [await freePort(), await freePort()]
  const common = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    DATABASE_URL: database.toString(),
    REDIS_URL: TEST_REDIS_URL,
    HERALD_REDIS_PREFIX: prefix,
    SHUTDOWN_GRACE_MS: '3000',
    ...TEST_SECRETS
  }

  function launch (name: string, entry: string, port: number, extra: Record<string, string>) {
    let output = ''
    const child = spawn(process.execPath, [`${root}${entry}`], {
      env: { ...common, PORT: String(port), ...extra, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-20_000) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const url = `http://127.0.0.1:${port}`
    return { child, url, ready: () => waitReady(url, child, () => `${name}: ${output}`) }
  }

  async function stop (child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(killed)
  }

  const ingest = launch('webhook-ingest', 'services/webhook-ingest/dist/server.js', ingestPort, { OUTBOX_SWEEP_INTERVAL_MS: '100' })
  t.teardown(() => stop(ingest.child))
  const gatewayEnv = { SSE_PING_INTERVAL_MS: '2000', SSE_RETRY_MS: '200', GATEWAY_CORS_ORIGINS: '*', HERALD_INSTANCE_ID: `client-test-${gatewayPort}` }
  let gateway = launch('status-gateway', 'services/status-gateway/dist/server.js', gatewayPort, gatewayEnv)
  t.teardown(() => stop(gateway.child))
  await Promise.all([ingest.ready(), gateway.ready()])

  const target: HeraldTarget = {
    ingestUrl: ingest.url,
    gatewayUrl: gateway.url,
    payheroCallbackToken: TEST_SECRETS.PAYHERO_CALLBACK_TOKEN,
    mpesaCallbackToken: TEST_SECRETS.MPESA_CALLBACK_TOKEN,
    internalWebhookSecret: TEST_SECRETS.INTERNAL_WEBHOOK_SECRETS.split(',')[0]!,
    adminToken: TEST_SECRETS.ADMIN_TOKEN
  }
  return {
    ingestUrl: ingest.url,
    gatewayUrl: gateway.url,
    target,
    producer: new HeraldProducer(target),
    adminToken: TEST_SECRETS.ADMIN_TOKEN,
    stopGateway: () => stop(gateway.child),
    async startGateway () {
      gateway = launch('status-gateway', 'services/status-gateway/dist/server.js', gatewayPort, gatewayEnv)
      await gateway.ready()
    }
  }
}

/** Polls `condition` until it holds; no timing assertions, just a generous limit. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
