import t from 'tap'
import { benchChart, chartRows } from '../src/chart.ts'
import type { BenchRun } from '../src/report.ts'

const latency = (p50: number, p90: number, p99: number) => ({ count: 100, p50, p90, p99, max: p99 * 2, mean: p50 })
const route = (name: string, perSecond: number, p99: number) => ({ name, perSecond, completed: perSecond * 10, errors: 0, errorSamples: [], latency: latency(p99 / 4, p99 / 2, p99), cpuMsPerRequest: null, ratioToBare: null })

const run = {
  runId: 'r1',
  machine: { cpus: 2, node: 'v20.20.2' },
  longPoll: { herald: { target: 'herald', completion: { deliveryLatency: latency(2, 4, 9) } } },
  sse: { delivery: { latency: latency(1, 2, 5) } },
  ingest: {
    seconds: 10,
    concurrency: 32,
    bare: route('bare route', 9000, 3),
    signedRegistrationEvents: route('signed registration events', 1200, 40),
    signedOrderUpserts: route('signed order upserts', 1000, 50),
    mpesaCallbacks: route('M-PESA callbacks', 800, 60)
  }
} as unknown as BenchRun

t.test('one latency row per scenario and route, one throughput row per ingest route', async (t) => {
  const rows = chartRows(run)
  t.same(rows.latency.map((row) => row.label), [
    'long-poll delivery (herald)', 'SSE delivery', 'ingest bare route', 'ingest signed registration events',
    'ingest signed order upserts', 'ingest M-PESA callbacks'
  ])
  t.same(rows.throughput.map((row) => row.perSecond), [9000, 1200, 1000, 800])
})

t.test('the SVG draws longer bars for larger values and labels the p99 and the rates', async (t) => {
  const svg = benchChart(run)
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg, /<\/svg>\n$/)
  const width = (title: string): number => Number(new RegExp(`width="([0-9.]+)"[^>]*><title>${title}</title>`).exec(svg)?.[1])
  t.ok(width('ingest M-PESA callbacks p99 60.0 ms') > width('SSE delivery p99 5.00 ms'), 'a 60 ms p99 is drawn longer than a 5 ms one')
  t.ok(width('bare route 9000/s') > width('M-PESA callbacks 800/s'), 'throughput bars scale with the rate')
  t.match(svg, '9000/s')
  t.equal((svg.match(/<rect /g) ?? []).length, 1 + 3 + 6 * 3 + 4, 'background, legend, three bars per latency row, one per rate')
})

t.test('labels are escaped', async (t) => {
  const svg = benchChart({ ...run, runId: '<a & b>' } as BenchRun)
  t.match(svg, '&#60;a &#38; b&#62;')
})
