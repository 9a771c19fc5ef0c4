// The real webhook-ingest for a test: its built server as a child process on this test's Postgres schema
// and Redis prefix, and a proxy in front of it that can lose answers, refuse or stall attempts.
import { spawn } from 'node:child_process'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_SECRETS, freePort, useTestPrefix, useTestSchema } from '@herald/service-kit/testing'

interface TestContext { teardown (fn: () => unknown): void }

const server = fileURLToPath(new URL('../../../services/webhook-ingest/dist/server.js', import.meta.url))

export const INTERNAL_SECRET = TEST_SECRETS.INTERNAL_WEBHOOK_SECRETS.split(',')[0]!

async function listen (http: Server): Promise<string> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(http.address() as { port: number }).port}`
}

export interface RunningIngest {
  url: string
  /** Rows of `sql` run on the test's schema. */
  query<T> (sql: string, params?: unknown[]): Promise<T[]>
}

export async function startIngest (t: TestContext): Promise<RunningIngest> {
  const schema = await useTestSchema(t, 'producer')
  const prefix = useTestPrefix(t, 'producer')
  const database = new URL(TEST_DATABASE_URL)
  database.searchParams.set('options', `-c search_path=${schema}`)
  const port = await freePort()
  let output = ''
  const child = spawn(process.execPath, [server], {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      DATABASE_URL: database.toString(),
      REDIS_URL: TEST_REDIS_URL,
      HERALD_REDIS_PREFIX: prefix,
      SHUTDOWN_GRACE_MS: '3000',
      ...TEST_SECRETS
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-20_000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  t.teardown(async () => {
    if (child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`webhook-ingest exited with ${child.exitCode}:\n${output}`)
    const ready = await fetch(`${url}/readyz`).then((res) => res.status === 200, () => false)
    if (ready) break
    if (Date.now() > deadline) throw new Error(`webhook-ingest not ready within 60 s:\n${output}`)
    await sleep(100)
  }

  const pool = new pg.Pool({ connectionString: database.toString(), max: 2 })
  t.teardown(() => pool.end())
  return { url, query: async <T>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[] }
}

/** What the proxy does with one attempt. */
export type Behaviour =
  | 'forward'
  /** Forwards it, lets the ingest apply it, then drops the connection before the answer reaches the caller. */
  | 'drop-answer'
  /** Never answers (the caller's timeout fires). */
  | 'stall'
  | { status: number, headers?: Record<string, string>, body?: unknown }

export interface Attempt { at: number, method: string, url: string, webhookId: string | undefined }

export interface IngestProxy {
  url: string
  attempts: Attempt[]
  /** Behaviours for the next attempts, in order; attempts past the list are forwarded. */
  plan (...behaviours: Behaviour[]): void
}

export async function startProxy (t: TestContext, target: string): Promise<IngestProxy> {
  const attempts: Attempt[] = []
  let planned: Behaviour[] = []
  const stalled = new Set<ServerResponse>()

  function forward (req: IncomingMessage, body: Buffer, done: (upstream: IncomingMessage, answer: Buffer) => void): void {
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => done(res, Buffer.concat(chunks)))
    })
    upstream.end(body)
  }

  const http = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      attempts.push({ at: Date.now(), method: req.method!, url: req.url!, webhookId: req.headers['webhook-id'] as string | undefined })
      const behaviour = planned.shift() ?? 'forward'
      if (behaviour === 'stall') {
        stalled.add(res)
        return
      }
      if (behaviour === 'drop-answer') {
        forward(req, body, () => req.socket.destroy())
        return
      }
      if (behaviour === 'forward') {
        forward(req, body, (upstream, answer) => {
          res.writeHead(upstream.statusCode!, { 'content-type': upstream.headers['content-type'] ?? 'application/json' })
          res.end(answer)
        })
        return
      }
      res.writeHead(behaviour.status, { 'content-type': 'application/json', ...behaviour.headers })
      res.end(JSON.stringify(behaviour.body ?? { success: false, error: 'Service unavailable', code: 'HERALD_ERR_UNAVAILABLE' }))
    })
  })
  const url = await listen(http)
  t.teardown(async () => {
    for (const res of stalled) res.destroy()
    http.closeAllConnections()
    await new Promise((resolve) => http.close(resolve))
  })
  return { url, attempts, plan: (...behaviours) => { planned = behaviours } }
}
