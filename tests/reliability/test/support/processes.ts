// Real Herald processes for fault tests: the built services as child processes, a redis-server of the
// test's own, and a TCP proxy that stands between a service and Postgres or Redis and can cut it off.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { TEST_DATABASE_URL, TEST_SECRETS } from '@herald/service-kit/testing'

export interface Teardown { teardown (fn: () => unknown): void }

const root = fileURLToPath(new URL('../../../../', import.meta.url))

export const ENTRIES = {
  ingest: 'services/webhook-ingest/dist/server.js',
  gateway: 'services/status-gateway/dist/server.js'
} as const

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Polls `condition` until it holds: no timing assertions, only a generous limit. */
export async function until (condition: () => boolean | Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`)
    await sleep(25)
  }
}

/** A database URL that puts `schema` first on the search path (pg passes `options` to the server). */
export function databaseUrlFor (schema: string, base = TEST_DATABASE_URL): string {
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

/** One service process: its output kept for failure messages, stopped (or killed) in teardown. */
export class ServiceProcess {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  readonly exited: Promise<void>
  #output = ''

  constructor (name: string, entry: string, port: number, env: Record<string, string>) {
    this.name = name
    this.port = port
    this.url = `http://127.0.0.1:${port}`
    this.child = spawn(process.execPath, [join(root, entry)], {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const keep = (chunk: Buffer): void => { this.#output = (this.#output + chunk.toString().split('\n').filter((l) => !/"msg":"(request completed|incoming request)"/.test(l)).join('\n')).slice(-40_000) }
    this.child.stdout?.on('data', keep)
    this.child.stderr?.on('data', keep)
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()))
  }

  get output (): string {
    return this.#output
  }

  get running (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  async ready (limitMs = 60_000): Promise<void> {
    const deadline = Date.now() + limitMs
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before it was ready:\n${this.#output}`)
      try {
        const res = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(5000) })
        if (res.status === 200) return
      } catch {}
      await sleep(100)
    }
    throw new Error(`${this.name} was not ready within ${limitMs} ms:\n${this.#output}`)
  }

  /** SIGTERM, then SIGKILL if it has not gone after a while. */
  async stop (): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGTERM')
    const killed = setTimeout(() => this.child.kill('SIGKILL'), 15_000)
    await this.exited
    clearTimeout(killed)
  }

  /** Dies at once: no shutdown hook runs. */
  async kill (): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGKILL')
    await this.exited
  }
}

export interface HeraldStorage {
  schema: string
  prefix: string
  databaseUrl: string
  redisUrl: string
}

function commonEnv (storage: HeraldStorage): Record<string, string> {
  return {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    DATABASE_URL: storage.databaseUrl,
    REDIS_URL: storage.redisUrl,
    HERALD_REDIS_PREFIX: storage.prefix,
    SHUTDOWN_GRACE_MS: '3000',
    ...TEST_SECRETS
  }
}

/** Starts a webhook-ingest process and waits until it is ready; stopped in teardown. */
export async function startIngest (t: Teardown, storage: HeraldStorage, env: Record<string, string> = {}, options: { waitReady?: boolean } = {}): Promise<ServiceProcess> {
  const ingest = new ServiceProcess('webhook-ingest', ENTRIES.ingest, await freePort(), {
    ...commonEnv(storage), OUTBOX_SWEEP_INTERVAL_MS: '100', ...env
  })
  t.teardown(() => ingest.stop())
  if (options.waitReady ?? true) await ingest.ready()
  return ingest
}

let gateways = 0

/** Starts a status-gateway process (its own consumer group) and waits until it is ready; stopped in teardown. */
export async function startGateway (t: Teardown, storage: HeraldStorage, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const port = await freePort()
  const gateway = new ServiceProcess('status-gateway', ENTRIES.gateway, port, {
    ...commonEnv(storage),
    HERALD_INSTANCE_ID: `reliability-${process.pid}-${++gateways}-${port}`,
    GATEWAY_READ_BLOCK_MS: '1000',
    SSE_PING_INTERVAL_MS: '2000',
    SSE_RETRY_MS: '200',
    // One test process stands for hundreds of clients on one address: the per-client cap would refuse them.
    GATEWAY_MAX_HOLDS_PER_CLIENT: '0',
    GATEWAY_RATE_LIMIT_PER_MINUTE: '0',
    ...env
  })
  t.teardown(() => gateway.stop())
  await gateway.ready()
  return gateway
}

/**
 * A redis-server of the test's own on a free port, with AOF on (fsync on every write unless told
 * otherwise), in a temporary directory. Killed and removed in teardown; never the machine's Redis.
 */
export class RedisServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  readonly #fsync: string
  #child: ChildProcess | null = null
  #output = ''

  private constructor (port: number, fsync: string) {
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
    this.dir = mkdtempSync(join(tmpdir(), 'herald-redis-'))
    this.#fsync = fsync
  }

  static async start (t: Teardown, options: { appendfsync?: 'always' | 'everysec' } = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options.appendfsync ?? 'always')
    t.teardown(async () => {
      await server.kill()
      rmSync(server.dir, { recursive: true, force: true })
    })
    await server.#launch()
    return server
  }

  async #launch (): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
      '--appendfsync', this.#fsync, '--dir', this.dir, '--daemonize', 'no'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (chunk: Buffer) => { this.#output = (this.#output + chunk.toString()).slice(-10_000) })
    this.#child = child
    await until(() => this.#output.includes('Ready to accept connections') || child.exitCode !== null, 'redis-server to start', 30_000)
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${this.#output}`)
  }

  get pid (): number | undefined {
    return this.#child?.pid
  }

  /** SIGKILL: no final fsync beyond what the AOF policy already did. */
  async kill (): Promise<void> {
    const child = this.#child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  /**
   * Kills the server and starts it again on the same port and AOF; `empty` deletes the AOF first (an
   * instance without persistence, or a failover to a replica that had nothing).
   */
  async restart (downMs = 0, options: { empty?: boolean } = {}): Promise<void> {
    await this.kill()
    this.#output = ''
    if (options.empty === true) {
      rmSync(this.dir, { recursive: true, force: true })
      mkdirSync(this.dir, { recursive: true })
    }
    if (downMs > 0) await sleep(downMs)
    await this.#launch()
  }
}

/**
 * A TCP proxy in front of a real server. `cut()` drops every connection and refuses new ones (the
 * server looks down); `blackhole()` keeps connections open but forwards nothing either way (a network
 * partition); `muteReplies()` forwards requests but drops the answers; `restore()` heals.
 */
export class TcpProxy {
  readonly port: number
  readonly #server: Server
  readonly #target: { host: string, port: number }
  readonly #pairs = new Set<[Socket, Socket]>()
  #mode: 'open' | 'cut' | 'blackhole' | 'mute' = 'open'
  connections = 0

  private constructor (server: Server, port: number, target: { host: string, port: number }) {
    this.#server = server
    this.port = port
    this.#target = target
    server.on('connection', (client) => this.#accept(client))
  }

  static async start (t: Teardown, target: { host: string, port: number }): Promise<TcpProxy> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port, target)
    t.teardown(() => proxy.close())
    return proxy
  }

  /** `base` (a postgres:// or redis:// URL) pointed at this proxy. */
  urlFor (base: string): string {
    const url = new URL(base)
    url.hostname = '127.0.0.1'
    url.port = String(this.port)
    return url.toString()
  }

  get mode (): string {
    return this.#mode
  }

  #accept (client: Socket): void {
    if (this.#mode === 'cut' || this.#mode === 'blackhole') {
      if (this.#mode === 'cut') client.destroy()
      else this.#hold(client)
      return
    }
    this.connections++
    const upstream = createConnection(this.#target)
    const pair: [Socket, Socket] = [client, upstream]
    this.#pairs.add(pair)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      this.#pairs.delete(pair)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    if (this.#mode === 'mute') upstream.on('data', () => {})
    else upstream.pipe(client)
  }

  /** A blackholed connection: accepted, read and thrown away, never answered. */
  #hold (client: Socket): void {
    const pair: [Socket, Socket] = [client, client]
    this.#pairs.add(pair)
    client.on('data', () => {})
    client.on('error', () => {}).on('close', () => this.#pairs.delete(pair))
  }

  cut (): void {
    this.#mode = 'cut'
    for (const [client, upstream] of this.#pairs) {
      client.destroy()
      upstream.destroy()
    }
    this.#pairs.clear()
  }

  blackhole (): void {
    this.#mode = 'blackhole'
    for (const [client, upstream] of this.#pairs) {
      client.unpipe(upstream)
      upstream.unpipe(client)
      upstream.pause()
      client.on('data', () => {})
    }
  }

  /**
   * Requests still reach the server, answers never come back: the server does the work, the client
   * never learns it (a process that dies right after its write landed).
   */
  muteReplies (): void {
    this.#mode = 'mute'
    for (const [client, upstream] of this.#pairs) {
      upstream.unpipe(client)
      upstream.on('data', () => {})
    }
  }

  /** Like `muteReplies` for the connections open now only; new connections work normally. */
  muteExisting (): void {
    for (const [client, upstream] of this.#pairs) {
      upstream.unpipe(client)
      upstream.on('data', () => {})
    }
  }

  restore (): void {
    if (this.#mode === 'blackhole' || this.#mode === 'mute') {
      // Held connections are dead for their owners by now; drop them so they notice and reconnect.
      for (const [client, upstream] of this.#pairs) {
        client.destroy()
        upstream.destroy()
      }
      this.#pairs.clear()
    }
    this.#mode = 'open'
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise((resolve) => this.#server.close(resolve))
  }
}
