// What the bench reads about the processes under test: memory, Redis connections, event-loop delay.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Redis } from 'ioredis'
import type { ProbeMemory } from './probe.js'
import { metricValue, type ServiceProcess } from './processes.js'
import { round } from './stats.js'

export interface MemoryReading {
  /** After two forced GCs in the process (through the probe). */
  probe: ProbeMemory
  /** The same process's own /metrics figures, for comparison with dashboards. */
  metrics: { residentBytes: number | null, heapUsedBytes: number | null }
}

export interface MemoryPerUnit {
  before: MemoryReading
  after: MemoryReading
  units: number
  /** Bytes per unit (waiter or stream), after GC. */
  rssPerUnit: number
  heapPerUnit: number
  externalPerUnit: number
}

export async function readMemory (service: ServiceProcess, withMetrics = true): Promise<MemoryReading> {
  const probe = await service.memory()
  if (!withMetrics) return { probe, metrics: { residentBytes: null, heapUsedBytes: null } }
  const text = await service.metrics().catch(() => '')
  return {
    probe,
    metrics: {
      residentBytes: metricValue(text, 'process_resident_memory_bytes'),
      heapUsedBytes: metricValue(text, 'nodejs_heap_size_used_bytes')
    }
  }
}

export function memoryPerUnit (before: MemoryReading, after: MemoryReading, units: number): MemoryPerUnit {
  const per = (a: number, b: number): number => units === 0 ? Number.NaN : Math.round((b - a) / units)
  return {
    before,
    after,
    units,
    rssPerUnit: per(before.probe.rss, after.probe.rss),
    heapPerUnit: per(before.probe.heapUsed, after.probe.heapUsed),
    externalPerUnit: per(before.probe.external, after.probe.external)
  }
}

/** Connections whose CLIENT SETNAME starts with `namePrefix`, and all connected clients. */
export async function redisClients (redis: Redis, namePrefix: string): Promise<{ named: number, connected: number }> {
  const list = await redis.client('LIST') as string
  let named = 0
  for (const line of list.split('\n')) {
    const match = / name=(\S*)/.exec(line)
    if (match?.[1].startsWith(namePrefix) === true) named++
  }
  const info = await redis.info('clients')
  const connected = Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? Number.NaN)
  return { named, connected }
}

/** The bench's own event-loop delay while a phase runs: when it is high, the client is the bottleneck. */
export class LoopDelay {
  static readonly resolutionMs = 10
  readonly #histogram: ReturnType<typeof monitorEventLoopDelay> = monitorEventLoopDelay({ resolution: LoopDelay.resolutionMs })

  constructor () {
    this.#histogram.enable()
  }

  stop (): { p50: number, p99: number, max: number } {
    this.#histogram.disable()
    // The histogram's samples include its own sampling interval: what is left over is the delay.
    const ms = (ns: number): number => round(Math.max(0, ns / 1e6 - LoopDelay.resolutionMs))
    return { p50: ms(this.#histogram.percentile(50)), p99: ms(this.#histogram.percentile(99)), max: ms(this.#histogram.max) }
  }
}
