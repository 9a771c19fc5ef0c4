// Soak run (not in CI): an ingest and two gateways as processes under mixed traffic for a while, their
// memory (RSS) and open file descriptors sampled; prints whether both stayed flat, what was lost or
// delivered twice, and the delivery latency from the ingest to the clients.
//   pnpm --filter @herald/reliability-tests soak -- --minutes 15
import { readFileSync, readdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { startGateway, startIngest, type ServiceProcess } from './test/support/processes.js'
import { percentile, recordFigures, useStorage } from './test/support/storage.js'
import { Traffic } from './test/support/scenario.js'
import { call } from './test/support/traffic.js'

// pnpm passes the `--` of `pnpm soak -- --minutes 15` through; it separates nothing here.
const { values } = parseArgs({ args: process.argv.slice(2).filter((arg) => arg !== '--'), options: { minutes: { type: 'string', default: '15' }, 'sample-seconds': { type: 'string', default: '10' } } })
const minutes = Number(values.minutes)
const sampleMs = Number(values['sample-seconds']) * 1000

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }

interface Sample { at: number, rssKb: number, fds: number }

function sample (process: ServiceProcess): Sample {
  const pid = process.child.pid!
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { at: Date.now(), rssKb, fds: readdirSync(`/proc/${pid}/fd`).length }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/** Flat: the median of the last third is within 20% (and a small absolute margin) of the middle third's. */
function flatness (samples: Sample[], key: 'rssKb' | 'fds', marginAbs: number) {
  const third = Math.max(1, Math.floor(samples.length / 3))
  // The first third is warm-up (JIT, pools filling); compare the middle third with the last.
  const middle = median(samples.slice(third, 2 * third).map((s) => s[key]))
  const last = median(samples.slice(-third).map((s) => s[key]))
  return { middle, last, flat: last <= middle * 1.2 + marginAbs }
}

try {
  const storage = await useStorage(t, 'soak')
  const ingest = await startIngest(t, storage, { LOG_LEVEL: 'warn' })
  const gateways = [await startGateway(t, storage, { LOG_LEVEL: 'warn' }), await startGateway(t, storage, { LOG_LEVEL: 'warn' })]
  const processes = { ingest, gatewayA: gateways[0]!, gatewayB: gateways[1]! }
  const samples: Record<string, Sample[]> = { ingest: [], gatewayA: [], gatewayB: [] }
  // The first sample is taken before any traffic: the memory each service starts with.
  for (const [name, service] of Object.entries(processes)) samples[name]!.push(sample(service))
  const loadAverage = { start: loadavg().map((n) => Number(n.toFixed(2))), end: [] as number[] }
  const delays: number[] = []
  const totals = { waves: 0, eventsAccepted: 0, eventsDelivered: 0, eventsCoveredByReset: 0, ordersPaid: 0, duplicatesDropped: 0, resets: 0, hostileRequests: 0, hostile5xx: 0 }
  const deadline = Date.now() + minutes * 60_000
  const deaths: string[] = []
  const sampler = setInterval(() => {
    for (const [name, service] of Object.entries(processes)) {
      if (service.running) samples[name]!.push(sample(service))
      else if (!deaths.includes(name)) {
        deaths.push(name)
        process.stdout.write(`${name} DIED (${service.child.exitCode ?? service.child.signalCode}):\n${service.output.split('\n').filter((l) => /"level":[56]0/.test(l)).slice(-3).join('\n').slice(0, 3000)}\n`)
      }
    }
  }, sampleMs)

  let wave = 0
  while (Date.now() < deadline && deaths.length === 0) {
    wave++
    // A wave: registrations followed over SSE and orders long-polled, spread over both gateways.
    const traffic = new Traffic({
      ingests: () => [ingest.url],
      gateways: () => wave % 2 === 0 ? [gateways[0]!.url, gateways[1]!.url] : [gateways[1]!.url, gateways[0]!.url],
      registrations: 20,
      eventsEach: 6,
      orders: 15,
      pauseMs: 100,
      label: `soak${wave}`
    })
    const hostile = (async () => {
      for (let i = 0; i < 50; i++) {
        const answer = await call(`${gateways[i % 2]!.url}/api/orders/${i % 3 === 0 ? '..%2F' : 'x'}${i}/wait?since=-${i}&timeout=${i * 10_000}`, { headers: { authorization: `Bearer forged.${i}.x` } })
        totals.hostileRequests++
        if (answer.status >= 500) totals.hostile5xx++
      }
    })()
    await traffic.run()
    await traffic.settle(180_000)
    await traffic.stop()
    await hostile
    const figures = traffic.figures()
    const waveDelays = await traffic.deliveryDelays()
    delays.push(...waveDelays.registrations, ...waveDelays.orders)
    totals.waves++
    totals.eventsAccepted += figures.registrationEventsAccepted!
    totals.eventsDelivered += figures.registrationEventsDeliveredDistinct!
    totals.ordersPaid += figures.ordersPaid!
    totals.duplicatesDropped += figures.sseDuplicatesDroppedById!
    totals.resets += figures.sseResets!
    totals.eventsCoveredByReset += figures.registrationEventsAccepted! - figures.registrationEventsDeliveredDistinct!
    process.stdout.write(`wave ${wave}: ${figures.registrationEventsDeliveredDistinct}/${figures.registrationEventsAccepted} events delivered, ${figures.ordersPaid} orders paid; ` +
      `rss ${Object.entries(samples).map(([name, s]) => `${name} ${Math.round((s.at(-1)?.rssKb ?? 0) / 1024)} MB`).join(', ')}\n`)
    await sleep(500)
  }
  clearInterval(sampler)
  for (const [name, service] of Object.entries(processes)) if (service.running) samples[name]!.push(sample(service))
  loadAverage.end = loadavg().map((n) => Number(n.toFixed(2)))

  const verdicts = Object.fromEntries(Object.entries(samples).map(([name, s]) => [name, { memory: flatness(s, 'rssKb', 8 * 1024), fds: flatness(s, 'fds', 5), samples: s.length }]))
  const flat = deaths.length === 0 && Object.values(verdicts).every((v) => v.memory.flat && v.fds.flat)
  const rssMb = Object.fromEntries(Object.entries(samples).map(([name, s]) => [name, { start: Math.round((s[0]?.rssKb ?? 0) / 102.4) / 10, end: Math.round((s.at(-1)?.rssKb ?? 0) / 102.4) / 10 }]))
  const deliveryMs = { events: delays.length, p50: percentile(delays, 0.5), p99: percentile(delays, 0.99), max: delays.reduce((max, d) => Math.max(max, d), 0) }
  const report = { minutes, ...totals, eventsLost: totals.eventsAccepted - totals.eventsDelivered - totals.eventsCoveredByReset, deliveryMs, rssMb, loadAverage, deaths, verdicts, flat }
  recordFigures('soak', report)
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n${flat ? 'FLAT: memory and open handles held steady' : 'NOT FLAT: see verdicts'}\n`)
  process.exitCode = flat && totals.eventsAccepted === totals.eventsDelivered + totals.eventsCoveredByReset && totals.hostile5xx === 0 ? 0 : 1
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
