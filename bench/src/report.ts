// The run's record (written as JSON) and its markdown tables.
import type { HotFunction } from './profile-summary.js'
import type { HeapClass } from './heap-summary.js'
import type { IngestResult, ThroughputResult } from './scenarios/ingest.js'
import type { LongPollResult } from './scenarios/long-poll.js'
import type { SseResult } from './scenarios/sse.js'
import { ratio } from './stats.js'

export interface MachineInfo {
  cpus: number
  cpuModel: string
  memoryGiB: number
  node: string
  redis: string
  postgres: string
  loadAverageAtStart: number[]
  loadAverageAtEnd: number[]
}

export interface BenchRun {
  runId: string
  startedAt: string
  command: string
  options: Record<string, unknown>
  machine: MachineInfo
  longPoll?: { herald?: LongPollResult, seed?: LongPollResult }
  sse?: SseResult
  ingest?: IngestResult
  profiles: Array<{ name: string, path: string, totalMs: number, idlePercent: number, top: HotFunction[], byPackage: HotFunction[] }>
  heapSnapshots: Array<{ name: string, path: string, units: number, totalBytes: number, classes: HeapClass[], perUnit: HeapClass[] }>
  notes: string[]
}

const ms = (value: number | undefined): string => value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(value >= 100 ? 0 : 1)
const bytes = (value: number): string => !Number.isFinite(value) ? '–' : Math.abs(value) >= 10_240 ? `${(value / 1024).toFixed(1)} KiB` : `${value} B`
const times = (value: number | null): string => value === null ? '–' : `${value}×`
const yes = (ok: boolean): string => ok ? 'yes' : '**no**'

function longPollRows (results: LongPollResult[]): string[] {
  return results.map((r) => {
    const d = r.completion.deliveryLatency
    return `| ${r.target} | ${r.ramp.held}/${r.waiters} | ${r.completion.offeredRate}/s | ${ms(d.p50)} | ${ms(d.p90)} | ${ms(d.p99)} | ${ms(d.max)} | ${r.completion.errors} | ${bytes(r.memory.heapPerUnit)} | ${bytes(r.memory.rssPerUnit)} | ${r.redisConnections.server} |`
  })
}

const pathCpu = (r: ThroughputResult): string =>
  r.pathCpuMsPerRequest === undefined ? '–' : `${r.pathCpuMsPerRequest.postgres} / ${r.pathCpuMsPerRequest.redis} / ${r.pathCpuMsPerRequest.client}`

function throughputRow (r: ThroughputResult): string {
  return `| ${r.name} | ${r.perSecond} | ${ms(r.latency.p50)} | ${ms(r.latency.p90)} | ${ms(r.latency.p99)} | ${ms(r.latency.max)} | ${r.errors} | ${r.cpuMsPerRequest ?? '–'} | ${pathCpu(r)} | ${r.writesPerCommit ?? '–'} | ${times(r.ratioToBare)} |`
}

const cpuList = (cpu: Record<string, number>): string => Object.entries(cpu).map(([name, value]) => `${name} ${value} ms`).join(', ')

export function markdown (run: BenchRun): string {
  const out: string[] = []
  const m = run.machine
  out.push(`## Herald bench ${run.runId}`, '')
  out.push(`Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, Redis ${m.redis}, Postgres ${m.postgres}; load average at start ${m.loadAverageAtStart.join(' ')}, at end ${m.loadAverageAtEnd.join(' ')}.`, '')
  out.push(`Command: \`${run.command}\``, '')

  const { herald, seed } = run.longPoll ?? {}
  if (herald !== undefined || seed !== undefined) {
    out.push('### Long-poll fan-out (scenario 1) and the seed design (scenario 4)', '')
    out.push('Latency: from the callback POST being sent to the waiting client holding its answer, ms. Memory: gateway growth per held waiter after GC.', '')
    out.push('| server | held | callbacks | p50 | p90 | p99 | max | errors | heap/waiter | RSS/waiter | Redis conns held |')
    out.push('|---|---|---|---|---|---|---|---|---|---|---|')
    out.push(...longPollRows([herald, seed].filter((r) => r !== undefined)))
    if (herald !== undefined && seed !== undefined) {
      const h = herald.completion.deliveryLatency
      const s = seed.completion.deliveryLatency
      out.push(`| Herald ÷ seed | | | ${times(ratio(h.p50, s.p50))} | ${times(ratio(h.p90, s.p90))} | ${times(ratio(h.p99, s.p99))} | ${times(ratio(h.max, s.max))} | | ${times(ratio(herald.memory.heapPerUnit, seed.memory.heapPerUnit))} | ${times(ratio(herald.memory.rssPerUnit, seed.memory.rssPerUnit))} | ${times(ratio(herald.redisConnections.server, seed.redisConnections.server, 4))} |`)
    }
    out.push('')
    for (const r of [herald, seed]) {
      if (r === undefined) continue
      const c = r.completion
      const preparation = r.preparation === null ? '' : `${r.preparation.perSecond} signed order registrations/s while preparing (p99 ${ms(r.preparation.latency.p99)} ms); `
      out.push(`${r.target}: from the callback's answer to the waiter's answer p50 ${ms(c.afterCallbackAnswer.p50)} / p99 ${ms(c.afterCallbackAnswer.p99)} ms; ${preparation}callbacks answered p50 ${ms(c.callbackLatency.p50)} / p99 ${ms(c.callbackLatency.p99)} ms, ${c.callbackErrors} failed; CPU per order: ${cpuList(c.cpuMsPerOrder)}; ramp ${r.ramp.seconds} s; Redis connected_clients ${r.redisConnections.connectedBefore} before, ${r.redisConnections.connectedDuringHold} during the hold; bench event-loop delay p99 ${r.benchLoopDelayMs.p99} ms.`)
    }
    if (herald !== undefined && herald.completion.errorSamples.length > 0) out.push(`Herald errors, first few: ${herald.completion.errorSamples.join(' | ')}`)
    if (seed !== undefined && seed.completion.errorSamples.length > 0) out.push(`Seed errors, first few: ${seed.completion.errorSamples.join(' | ')}`)
    out.push('')
  }

  if (run.sse !== undefined) {
    const s = run.sse
    const d = s.delivery.latency
    out.push('### SSE fan-out (scenario 2)', '')
    out.push('Latency: from the event POST being sent to the stream delivering it, ms.', '')
    out.push('| streams | events | rate | p50 | p90 | p99 | max | delivered | drops | duplicates | streams lost | heap/stream | RSS/stream | Redis conns |')
    out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    out.push(`| ${s.ramp.connected}/${s.streams} | ${s.events} | ${s.delivery.offeredRate}/s | ${ms(d.p50)} | ${ms(d.p90)} | ${ms(d.p99)} | ${ms(d.max)} | ${s.delivery.delivered}/${s.delivery.acknowledged} | ${s.delivery.drops} | ${s.delivery.duplicates} | ${s.delivery.streamsEnded} | ${bytes(s.memory.heapPerUnit)} | ${bytes(s.memory.rssPerUnit)} | ${s.redisConnections.server} |`)
    out.push('', `From the POST's answer to the stream's delivery p50 ${ms(s.delivery.afterPostAnswer.p50)} / p99 ${ms(s.delivery.afterPostAnswer.p99)} ms. Event POSTs answered p50 ${ms(s.delivery.postLatency.p50)} / p99 ${ms(s.delivery.postLatency.p99)} ms, ${s.delivery.postErrors} failed; CPU per event: ${cpuList(s.delivery.cpuMsPerEvent)}; bench event-loop delay p99 ${s.benchLoopDelayMs.p99} ms.`, '')
  }

  if (run.ingest !== undefined) {
    const i = run.ingest
    out.push(`### Ingest throughput (scenario 3): ${i.concurrency} concurrent callers, ${i.seconds} s each`, '')
    out.push('| route | req/s | p50 | p90 | p99 | max | errors | server CPU ms/req | Postgres / Redis / load generator CPU ms/req | writes per commit | ÷ bare (req/s) |')
    out.push('|---|---|---|---|---|---|---|---|---|---|---|')
    out.push(throughputRow(i.bare), throughputRow(i.signedRegistrationEvents), throughputRow(i.signedOrderUpserts), throughputRow(i.mpesaCallbacks))
    const b = i.withBackendEndpoint
    if (b !== undefined) out.push(throughputRow(b.signedRegistrationEvents), throughputRow(b.signedOrderUpserts), throughputRow(b.mpesaCallbacks))
    const samples = [i.signedRegistrationEvents, i.signedOrderUpserts, i.mpesaCallbacks].flatMap((r) => r.errorSamples.map((e) => `${r.name}: ${e}`))
    if (samples.length > 0) out.push('', `Errors, first few: ${samples.slice(0, 5).join(' | ')}`)
    if (b !== undefined) {
      const drained = b.drainSeconds === null ? 'had not taken everything 60 s later' : `had taken everything ${b.drainSeconds} s after the last request`
      out.push('', `With one back-end endpoint: ${b.delivered} webhooks delivered; ${b.undeliveredAtEnd ?? '?'} events not yet taken when the measurements ended; the endpoint ${drained}.`)
    }
    out.push('')
  }

  out.push(...goals(run))

  for (const profile of run.profiles) {
    out.push(`### CPU profile: ${profile.name} (${profile.totalMs} ms sampled, ${profile.idlePercent}% idle)`, '')
    out.push(`By package: ${profile.byPackage.map((p) => `${p.name} ${p.selfPercent}%`).join(', ')}.`, '')
    out.push('| function | self ms | self % |', '|---|---|---|')
    for (const f of profile.top) out.push(`| \`${f.name}\` | ${f.selfMs} | ${f.selfPercent} |`)
    out.push('')
  }
  for (const heap of run.heapSnapshots) {
    out.push(`### Heap snapshot: ${heap.name} (${bytes(heap.totalBytes)} in all)`, '')
    out.push('| constructor / type | count | self size |', '|---|---|---|')
    for (const c of heap.classes.slice(0, 12)) out.push(`| \`${c.name}\` | ${c.count} | ${bytes(c.selfBytes)} |`)
    out.push('', `With ${heap.units} held, the constructors with at least that many instances (what each one costs):`, '')
    out.push('| constructor / type | count | per held | self size | bytes per held |', '|---|---|---|---|---|')
    for (const c of heap.perUnit) out.push(`| \`${c.name}\` | ${c.count} | ${(c.count / heap.units).toFixed(1)} | ${bytes(c.selfBytes)} | ${Math.round(c.selfBytes / heap.units)} |`)
    out.push('')
  }
  if (run.notes.length > 0) out.push('### Notes', '', ...run.notes.map((note) => `- ${note}`), '')
  return out.join('\n')
}

function goals (run: BenchRun): string[] {
  const rows: string[] = []
  const herald = run.longPoll?.herald
  if (herald !== undefined) {
    rows.push(`| held long-polls on one gateway | 10,000 | ${herald.ramp.held} | ${yes(herald.ramp.held >= 10_000)} |`)
    const p99 = herald.completion.deliveryLatency.p99
    rows.push(`| callback-to-client p99 at 1,000 callbacks/s | < 50 ms | ${ms(p99)} ms at ${herald.completion.offeredRate}/s | ${yes(p99 < 50 && herald.completion.offeredRate >= 950)} |`)
    const perWaiter = Math.max(herald.memory.rssPerUnit, herald.memory.heapPerUnit)
    rows.push(`| gateway memory per held long-poll | < 10 KB | heap ${bytes(herald.memory.heapPerUnit)}, RSS ${bytes(herald.memory.rssPerUnit)} | ${yes(perWaiter < 10_000)} |`)
  }
  if (run.sse !== undefined) rows.push(`| SSE streams on one gateway | 10,000 | ${run.sse.ramp.connected} | ${yes(run.sse.ramp.connected >= 10_000)} |`)
  if (run.ingest !== undefined) {
    const best = run.ingest.signedRegistrationEvents.perSecond
    rows.push(`| signed callbacks per second | > 1,500 | ${best} events/s, ${run.ingest.signedOrderUpserts.perSecond} upserts/s | ${yes(best > 1500)} |`)
  }
  if (rows.length === 0) return []
  return ['### Goals', '', '| goal | target | reached | met |', '|---|---|---|---|', ...rows, '']
}
