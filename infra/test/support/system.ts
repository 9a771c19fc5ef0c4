// The system test's world: a throwaway Redis Cluster, Herald services as OS processes the way their
// containers run them, and SSE followers that move to another gateway when theirs dies.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { request, type Dispatcher } from 'undici'
import type { RegistrationSseMessage } from '@herald/contracts'
import { freePort } from '@herald/service-kit/testing'
import { repoRoot } from '../helper.ts'

const run = promisify(execFile)

export async function hasRedisServer (): Promise<boolean> {
  try {
    await run('redis-server', ['--version'])
    return true
  } catch {
    return false
  }
}

async function portIsFree (port: number): Promise<boolean> {
  const server = createServer()
  try {
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    return true
  } catch {
    return false
  } finally {
    server.close()
  }
}

export { freePort }

export interface LocalRedisCluster {
  /** `host:port` of every master, as REDIS_CLUSTER_NODES takes them. */
  nodes: string[]
  stop (): Promise<void>
}

/** A 3-master Redis Cluster on loopback started by infra/redis-cluster.sh, on node and bus ports that are free. */
export async function startRedisCluster (masters = 3): Promise<LocalRedisCluster> {
  let base: number | undefined
  for (let attempt = 0; attempt < 50 && base === undefined; attempt++) {
    const candidate = 20000 + Math.floor(Math.random() * 9000)
    const ports = Array.from({ length: masters }, (_, i) => [candidate + i, candidate + i + 10000]).flat()
    let free = true
    for (const port of ports) free &&= await portIsFree(port)
    if (free) base = candidate
  }
  if (base === undefined) throw new Error('no free ports for a Redis Cluster')
  const dir = await mkdtemp(join(tmpdir(), 'herald-system-cluster-'))
  const script = join(repoRoot, 'infra/redis-cluster.sh')
  const env = { ...process.env, REDIS_CLUSTER_DIR: join(dir, 'nodes'), REDIS_CLUSTER_MASTERS: String(masters) }
  const stop = async (): Promise<void> => {
    await run('bash', [script, 'stop', String(base)], { env })
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await run('bash', [script, 'start', String(base)], { env, timeout: 90_000 })
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
  return { nodes: Array.from({ length: masters }, (_, i) => `127.0.0.1:${base + i}`), stop }
}

/** One Herald service as its container runs it: `node <service>/dist/server.js`, configured by env only. */
export class HeraldProcess {
  readonly name: string
  readonly url: string
  readonly #child: ChildProcess
  #output = ''
  /** Set when we signal it: any other exit is a crash the test reports. */
  #stopping = false
  readonly exited: Promise<void>

  private constructor (name: string, port: number, child: ChildProcess) {
    this.name = name
    this.url = `http://127.0.0.1:${port}`
    this.#child = child
    const keep = (chunk: Buffer): void => { this.#output = (this.#output + chunk.toString()).slice(-20_000) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    this.exited = once(child, 'exit').then(() => {})
  }

  /** Starts `services/<service>/dist/server.js` on a free port and waits for `/readyz`. */
  static async start (name: string, service: 'webhook-ingest' | 'status-gateway', env: Record<string, string>): Promise<HeraldProcess> {
    const entry = join(repoRoot, 'services', service, 'dist/server.js')
    if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (pnpm build)`)
    const port = await freePort()
    const child = spawn(process.execPath, [entry], {
      // Only what a container would get: PATH and the service's own variables.
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const herald = new HeraldProcess(name, port, child)
    await herald.#waitReady()
    return herald
  }

  get crashed (): boolean {
    return !this.#stopping && (this.#child.exitCode !== null || this.#child.signalCode !== null)
  }

  get output (): string {
    return this.#output
  }

  async #waitReady (): Promise<void> {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (this.#child.exitCode !== null) throw new Error(`${this.name} exited with ${this.#child.exitCode} before it was ready:\n${this.#output}`)
      try {
        const response = await fetch(`${this.url}/readyz`)
        await response.arrayBuffer()
        if (response.status === 200) return
      } catch {}
      await sleep(100)
    }
    throw new Error(`${this.name} was not ready within 60 s:\n${this.#output}`)
  }

  /** SIGKILL: the pod vanishes, nothing is closed gracefully. */
  async kill (): Promise<void> {
    this.#stopping = true
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
    await this.exited
  }

  /** SIGTERM with a grace period, then SIGKILL. */
  async stop (graceMs = 10_000): Promise<void> {
    this.#stopping = true
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return
    this.#child.kill('SIGTERM')
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs)
    await this.exited
    clearTimeout(timer)
  }

  /** The sum of one Prometheus gauge or counter over its label sets (optionally only those matching `labels`). */
  async metric (name: string, labels = ''): Promise<number> {
    const response = await fetch(`${this.url}/metrics`)
    const text = await response.text()
    let total = 0
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue
      const rest = line.slice(name.length)
      if (rest[0] !== ' ' && rest[0] !== '{') continue
      if (labels !== '' && !rest.includes(labels)) continue
      total += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return total
  }
}

/** Runs `work` over `items` with at most `concurrency` in flight; the first failure rejects. */
export async function forEachLimited<T> (items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      await work(items[index]!, index)
    }
  })
  await Promise.all(workers)
}

/** Polls `condition` until it holds; a generous limit instead of a timing assertion. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

export interface RegistrationFollowerOptions {
  registrationId: string
  token: string
  /** Gateways in the order this client tries them: the first is where it starts. */
  gateways: readonly string[]
  /** The version of the registration's last event: the follower stops once it has it. */
  lastVersion: number
  dispatcher: Dispatcher
  /** Pause before a reconnect (what the server's `retry:` hint would make a browser do). */
  reconnectDelayMs?: number
  /** Awaited before every reconnect: lets a test make sure events were missed while the client was away. */
  beforeReconnect?: () => Promise<void>
}

/**
 * Follows one registration over SSE the way a browser's EventSource does: from `?lastEventId=0` at first,
 * then with `Last-Event-ID` of the last update it has, moving to the next gateway in its list whenever a
 * stream ends or cannot be opened. It keeps what arrived (raw) and what a client keeps after dropping
 * ids it already has (deduplicated).
 */
export class RegistrationFollower {
  readonly registrationId: string
  /** Versions in arrival order, repeats included. */
  readonly raw: number[] = []
  /** Versions after dropping any at or below the last kept one. */
  readonly kept: number[] = []
  /** Updates whose version jumped past the last kept one + 1: a lost event. */
  readonly gaps: Array<{ after: number, got: number }> = []
  /** Updates whose content is not that version's event. */
  readonly mismatches: string[] = []
  readonly resets: RegistrationSseMessage[] = []
  /** Every stream opened: the gateway and the Last-Event-ID it resumed from. */
  readonly connections: Array<{ gateway: string, lastEventId: number }> = []
  readonly failures: string[] = []
  readonly done: Promise<void>
  readonly #options: RegistrationFollowerOptions
  readonly #abort = new AbortController()

  constructor (options: RegistrationFollowerOptions) {
    this.#options = options
    this.registrationId = options.registrationId
    this.done = this.#run()
  }

  get lastKept (): number {
    return this.kept.at(-1) ?? 0
  }

  get duplicates (): number {
    return this.raw.length - this.kept.length
  }

  get complete (): boolean {
    return this.lastKept >= this.#options.lastVersion
  }

  stop (): void {
    this.#abort.abort()
  }

  async #run (): Promise<void> {
    const { gateways } = this.#options
    let gateway = 0
    while (!this.complete && !this.#abort.signal.aborted) {
      try {
        await this.#follow(gateways[gateway]!)
      } catch (err) {
        if (this.#abort.signal.aborted) return
        this.failures.push(`${gateways[gateway]}: ${(err as Error).message}`)
      }
      if (this.complete || this.#abort.signal.aborted) return
      gateway = (gateway + 1) % gateways.length
      await sleep(this.#options.reconnectDelayMs ?? 100)
      await this.#options.beforeReconnect?.()
    }
  }

  async #follow (gateway: string): Promise<void> {
    const first = this.connections.length === 0
    const query = new URLSearchParams({ registrationId: this.registrationId })
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${this.#options.token}` }
    // A first connect that wants everything from version 1 uses the query, as a page would; a reconnect the header.
    if (first) query.set('lastEventId', '0')
    else headers['last-event-id'] = String(this.lastKept)
    const response = await request(`${gateway}/api/registrations/updates/stream?${query}`, {
      headers, dispatcher: this.#options.dispatcher, signal: this.#abort.signal
    })
    if (response.statusCode !== 200) {
      const text = await response.body.text()
      throw new Error(`HTTP ${response.statusCode}: ${text}`)
    }
    this.connections.push({ gateway, lastEventId: this.lastKept })
    const parser = createParser({ onEvent: (message) => this.#onMessage(message) })
    const decoder = new TextDecoder()
    for await (const chunk of response.body) {
      parser.feed(decoder.decode(chunk as Buffer, { stream: true }))
      if (this.complete) {
        this.#abort.abort()
        return
      }
    }
  }

  #onMessage (message: EventSourceMessage): void {
    const body = JSON.parse(message.data) as RegistrationSseMessage
    if (body.type === 'reset') {
      this.resets.push(body)
      return
    }
    if (body.type !== 'update') return
    const version = Number(message.id)
    this.raw.push(version)
    if (version <= this.lastKept) return
    if (version !== this.lastKept + 1) this.gaps.push({ after: this.lastKept, got: version })
    // The verdict has no stage (the old design's shape).
    const expectedStage = version === this.#options.lastVersion ? undefined : stageOfVersion(version)
    if (body.data.registrationId !== this.registrationId || body.data.stage !== expectedStage) {
      this.mismatches.push(`v${version}: ${body.data.registrationId} ${body.data.stage ?? '(no stage)'}, expected ${expectedStage ?? '(no stage)'}`)
    }
    this.kept.push(version)
  }
}

/** The stage name the test gives a registration's event of `version`, so content can be checked against the id. */
export function stageOfVersion (version: number): string {
  return `step_${version}`
}
