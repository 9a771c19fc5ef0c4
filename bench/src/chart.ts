// An SVG picture of a bench run, written beside its JSON: latency percentiles per scenario, and throughput.
import type { BenchRun } from './report.js'
import type { LatencySummary } from './stats.js'

export interface LatencyBar { label: string, latency: LatencySummary }
export interface ThroughputBar { label: string, perSecond: number }

const PERCENTILES = [['p50', '#4c78a8'], ['p90', '#f58518'], ['p99', '#e45756']] as const
const WIDTH = 860
const ROW = 22
const LEFT = 260
const PLOT = WIDTH - LEFT - 90

const escape = (text: string): string => text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`)
const finite = (value: number): boolean => Number.isFinite(value) && value >= 0
const fmt = (value: number): string => value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

/** What the run measured, as chart rows: one latency row per scenario and route, one throughput row per route. */
export function chartRows (run: BenchRun): { latency: LatencyBar[], throughput: ThroughputBar[] } {
  const latency: LatencyBar[] = []
  const throughput: ThroughputBar[] = []
  for (const result of [run.longPoll?.herald, run.longPoll?.seed]) {
    if (result !== undefined) latency.push({ label: `long-poll delivery (${result.target})`, latency: result.completion.deliveryLatency })
  }
  if (run.sse !== undefined) latency.push({ label: 'SSE delivery', latency: run.sse.delivery.latency })
  if (run.ingest !== undefined) {
    const { bare, signedRegistrationEvents, signedOrderUpserts, mpesaCallbacks, withBackendEndpoint } = run.ingest
    const routes = [bare, signedRegistrationEvents, signedOrderUpserts, mpesaCallbacks].map((route) => ({ route, suffix: '' }))
    if (withBackendEndpoint !== undefined) {
      const { signedRegistrationEvents: events, signedOrderUpserts: orders, mpesaCallbacks: callbacks } = withBackendEndpoint
      routes.push(...[events, orders, callbacks].map((route) => ({ route, suffix: ' + back-end webhook' })))
    }
    for (const { route, suffix } of routes) {
      latency.push({ label: `ingest ${route.name}${suffix}`, latency: route.latency })
      throughput.push({ label: `${route.name}${suffix}`, perSecond: route.perSecond })
    }
  }
  return { latency, throughput }
}

/** A log10 scale from `min` to `max` over the plot width: latencies span 0.1 ms to seconds. */
function logScale (values: number[]): (value: number) => number {
  const positive = values.filter((value) => value > 0)
  const low = Math.pow(10, Math.floor(Math.log10(Math.min(...positive, 1))))
  const high = Math.pow(10, Math.ceil(Math.log10(Math.max(...positive, 10))))
  return (value) => Math.max(0, (Math.log10(Math.max(value, low)) - Math.log10(low)) / (Math.log10(high) - Math.log10(low)) * PLOT)
}

function latencyPanel (rows: LatencyBar[], top: number): { svg: string[], height: number } {
  const svg: string[] = [`<text x="10" y="${top + 16}" class="title">Latency per scenario (ms, log scale)</text>`]
  const values = rows.flatMap((row) => PERCENTILES.map(([p]) => row.latency[p])).filter(finite)
  const x = logScale(values)
  let y = top + 30
  PERCENTILES.forEach(([p, color], i) => {
    svg.push(`<rect x="${LEFT + i * 70}" y="${top + 6}" width="10" height="10" fill="${color}"/><text x="${LEFT + 14 + i * 70}" y="${top + 15}">${p}</text>`)
  })
  for (const row of rows) {
    svg.push(`<text x="${LEFT - 8}" y="${y + ROW / 2 + 4}" text-anchor="end">${escape(row.label)}</text>`)
    PERCENTILES.forEach(([p, color], i) => {
      const value = row.latency[p]
      if (!finite(value)) return
      const barY = y + i * (ROW / 3)
      svg.push(`<rect x="${LEFT}" y="${barY}" width="${x(value).toFixed(1)}" height="${ROW / 3 - 1}" fill="${color}"><title>${escape(row.label)} ${p} ${fmt(value)} ms</title></rect>`)
      if (p === 'p99') svg.push(`<text x="${(LEFT + x(value) + 4).toFixed(1)}" y="${barY + 6}" class="value">${fmt(value)} ms</text>`)
    })
    y += ROW + 6
  }
  return { svg, height: y - top }
}

function throughputPanel (rows: ThroughputBar[], top: number): { svg: string[], height: number } {
  if (rows.length === 0) return { svg: [], height: 0 }
  const svg: string[] = [`<text x="10" y="${top + 16}" class="title">Ingest throughput (requests/s)</text>`]
  const max = Math.max(...rows.map((row) => row.perSecond), 1)
  let y = top + 26
  for (const row of rows) {
    const width = row.perSecond / max * PLOT
    svg.push(`<text x="${LEFT - 8}" y="${y + 13}" text-anchor="end">${escape(row.label)}</text>`,
      `<rect x="${LEFT}" y="${y}" width="${width.toFixed(1)}" height="16" fill="#54a24b"><title>${escape(row.label)} ${row.perSecond}/s</title></rect>`,
      `<text x="${(LEFT + width + 4).toFixed(1)}" y="${y + 12}" class="value">${row.perSecond}/s</text>`)
    y += 22
  }
  return { svg, height: y - top }
}

/** The run as a standalone SVG document. */
export function benchChart (run: BenchRun): string {
  const { latency, throughput } = chartRows(run)
  const heading = `Herald bench ${run.runId}: ${run.machine.cpus} CPUs, Node ${run.machine.node}`
  const first = latencyPanel(latency, 30)
  const second = throughputPanel(throughput, 30 + first.height + 10)
  const height = 30 + first.height + 10 + second.height + 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    '<style>.title{font-weight:bold;font-size:13px}.value{font-size:10px;fill:#333}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" class="title">${escape(heading)}</text>`,
    ...first.svg,
    ...second.svg,
    '</svg>',
    ''
  ].join('\n')
}
