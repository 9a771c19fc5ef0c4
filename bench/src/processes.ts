// The processes under test: each service or comparison server runs as its own OS process on a free port,
// with the probe preloaded; stop() ends it (SIGTERM, then SIGKILL) and every process is ended on exit.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { ProbeCommand, ProbeMemory, ProbeReply } from './probe.js'

export interface ServiceProcessOptions {
  name: string
  /** The script to run. */
  entry: string
  env: Record<string, string>
  /** Where stdout and stderr go. */
  logPath: string
  /** Path answering 200 once the process is ready. */
  readyPath?: string
  /** Extra node flags, e.g. `--max-old-space-size=…`. */
  nodeFlags?: string[]
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

const probeUrl = new URL('./probe.js', import.meta.url).href
const running = new Set<ServiceProcess>()

/** A TCP port nobody listens on right now. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Resolves a workspace package's entry to the `server.js` next to it (`dist/index.js` -> `dist/server.js`). */
export function serviceEntry (packageName: string): string {
  return fileURLToPath(new URL('./server.js', import.meta.resolve(packageName)))
}

export class ServiceProcess {
  readonly name: string
  readonly port: number
  readonly url: string
  readonly #child: ChildProcess
  readonly #log: WriteStream
  readonly #pending = new Map<number, (reply: ProbeReply) => void>()
  #nextId = 1
  #exited: Promise<void>
  #exitCode: number | string | null = null

  private constructor (name: string, port: number, child: ChildProcess, log: WriteStream) {
    this.name = name
    this.port = port
    this.url = `http://127.0.0.1:${port}`
    this.#child = child
    this.#log = log
    this.#exited = once(child, 'exit').then(([code, signal]) => {
      this.#exitCode = (signal as string | null) ?? (code as number | null)
      running.delete(this)
      for (const resolve of this.#pending.values()) resolve({ id: 0, ok: false, error: `${name} exited` })
      this.#pending.clear()
    })
    child.on('message', (reply: ProbeReply) => {
      const resolve = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      resolve?.(reply)
    })
  }

  static async start (options: ServiceProcessOptions): Promise<ServiceProcess> {
    const port = await freePort()
    const log = createWriteStream(options.logPath)
    await once(log, 'open')
    const child = spawn(process.execPath, ['--expose-gc', '--import', probeUrl, ...(options.nodeFlags ?? []), options.entry], {
      env: { ...process.env, ...options.env, PORT: String(port) },
      stdio: ['ignore', log, log, 'ipc']
    })
    const service = new ServiceProcess(options.name, port, child, log)
    running.add(service)
    await service.#waitReady(options.readyPath ?? '/readyz')
    return service
  }

  get pid (): number | undefined {
    return this.#child.pid
  }

  async #waitReady (path: string): Promise<void> {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (this.#exitCode !== null) throw new Error(`${this.name} exited (${this.#exitCode}) before it was ready; see ${this.#log.path}`)
      try {
        const response = await fetch(`${this.url}${path}`)
        await response.arrayBuffer()
        if (response.status === 200) return
      } catch {}
      await delay(100)
    }
    throw new Error(`${this.name} was not ready within 30 s; see ${this.#log.path}`)
  }

  async #probe (command: DistributiveOmit<ProbeCommand, 'id'>): Promise<ProbeReply> {
    const id = this.#nextId++
    const reply = new Promise<ProbeReply>((resolve) => this.#pending.set(id, resolve))
    this.#child.send({ ...command, id })
    const answer = await Promise.race([reply, delay(120_000, undefined, { ref: false }).then((): ProbeReply => ({ id, ok: false, error: 'probe timed out' }))])
    if (!answer.ok) throw new Error(`${this.name}: ${answer.error}`)
    return answer
  }

  /** Memory after two full garbage collections. */
  async memory (): Promise<ProbeMemory> {
    const reply = await this.#probe({ cmd: 'memory' })
    if (!reply.ok || reply.memory === undefined) throw new Error(`${this.name}: no memory figures`)
    return reply.memory
  }

  /** CPU time (user + system) this process has used so far, in milliseconds. */
  async cpuMs (): Promise<number> {
    const reply = await this.#probe({ cmd: 'cpu' })
    if (!reply.ok || reply.cpuMicros === undefined) throw new Error(`${this.name}: no CPU figures`)
    return reply.cpuMicros / 1000
  }

  async startCpuProfile (): Promise<void> {
    await this.#probe({ cmd: 'cpu-start' })
  }

  async stopCpuProfile (path: string): Promise<string> {
    await this.#probe({ cmd: 'cpu-stop', path })
    return path
  }

  async heapSnapshot (path: string): Promise<string> {
    await this.#probe({ cmd: 'heap-snapshot', path })
    return path
  }

  /** Prometheus text from `/metrics`. */
  async metrics (): Promise<string> {
    const response = await fetch(`${this.url}/metrics`)
    return await response.text()
  }

  async stop (graceMs = 15_000): Promise<void> {
    if (this.#exitCode === null) {
      this.#child.kill('SIGTERM')
      const stopped = await Promise.race([this.#exited.then(() => true), delay(graceMs, undefined, { ref: false }).then(() => false)])
      if (!stopped) {
        this.#child.kill('SIGKILL')
        await this.#exited
      }
    }
    this.#log.end()
  }
}

/** Ends every process still running (bench failure or Ctrl-C). */
export async function stopAll (): Promise<void> {
  await Promise.all([...running].map(async (service) => await service.stop(5000)))
}

/** A sample of one gauge or counter from Prometheus text: the sum over its label sets, or null. */
export function metricValue (text: string, name: string): number | null {
  let total: number | null = null
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) total = (total ?? 0) + value
  }
  return total
}
