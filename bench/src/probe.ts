// Preloaded (`node --import`) into every process the bench starts: answers the bench over the IPC channel
// with GC'd memory figures, CPU profiles and heap snapshots, without touching the service's code.
import { Session } from 'node:inspector/promises'
import { writeFile } from 'node:fs/promises'
import { writeHeapSnapshot } from 'node:v8'

export type ProbeCommand =
  | { id: number, cmd: 'memory' }
  | { id: number, cmd: 'cpu' }
  | { id: number, cmd: 'cpu-start' }
  | { id: number, cmd: 'cpu-stop', path: string }
  | { id: number, cmd: 'heap-snapshot', path: string }

export interface ProbeMemory {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
}

export type ProbeReply = { id: number, ok: true, memory?: ProbeMemory, cpuMicros?: number, path?: string } | { id: number, ok: false, error: string }

const collectGarbage = (globalThis as { gc?: () => void }).gc
let session: Session | undefined

async function handle (message: ProbeCommand): Promise<ProbeReply> {
  switch (message.cmd) {
    case 'memory': {
      // Twice: the first pass may only promote what the second frees.
      collectGarbage?.()
      collectGarbage?.()
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
      return { id: message.id, ok: true, memory: { rss, heapUsed, heapTotal, external, arrayBuffers } }
    }
    case 'cpu': {
      const { user, system } = process.cpuUsage()
      return { id: message.id, ok: true, cpuMicros: user + system }
    }
    case 'cpu-start': {
      session ??= new Session()
      session.connect()
      await session.post('Profiler.enable')
      await session.post('Profiler.setSamplingInterval', { interval: 100 })
      await session.post('Profiler.start')
      return { id: message.id, ok: true }
    }
    case 'cpu-stop': {
      if (session === undefined) return { id: message.id, ok: false, error: 'profiler not started' }
      const { profile } = await session.post('Profiler.stop')
      session.disconnect()
      session = undefined
      await writeFile(message.path, JSON.stringify(profile))
      return { id: message.id, ok: true, path: message.path }
    }
    case 'heap-snapshot':
      return { id: message.id, ok: true, path: writeHeapSnapshot(message.path) }
  }
}

if (typeof process.send === 'function') {
  process.on('message', (message: ProbeCommand) => {
    handle(message).then(
      (reply) => process.send?.(reply),
      (err: unknown) => process.send?.({ id: message.id, ok: false, error: String(err) })
    )
  })
  // The bench going away (even by a crash) takes its services with it.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'))
  // The channel must not keep a service alive on its own, or a graceful close would hang.
  process.channel?.unref()
}
