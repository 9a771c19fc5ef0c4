import t from 'tap'
import { percentile, ratio, summarize } from '../src/stats.ts'
import { withSearchPath } from '../src/environment.ts'
import { metricValue } from '../src/processes.ts'

t.test('percentiles are nearest-rank over every sample', async (t) => {
  const samples = Array.from({ length: 100 }, (_, i) => 100 - i)
  t.equal(percentile([...samples].sort((a, b) => a - b), 50), 50)
  t.match(summarize(samples), { count: 100, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 })
  t.equal(summarize([]).count, 0)
})

t.test('ratio is null when a side is missing or zero', async (t) => {
  t.equal(ratio(3, 2), 1.5)
  t.equal(ratio(3, 0), null)
  t.equal(ratio(null, 2), null)
})

t.test('the schema travels as a pg startup option in the URL', async (t) => {
  t.equal(withSearchPath('postgres://u@h:5432/db', 'bench_x'), 'postgres://u@h:5432/db?options=-c%20search_path%3Dbench_x')
  t.equal(withSearchPath('postgres://u@h/db?sslmode=disable', 'b', ['synchronous_commit=off']), 'postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Db%20-c%20synchronous_commit%3Doff')
})

t.test('metricValue sums a metric over its label sets and ignores longer names', async (t) => {
  const text = [
    '# HELP herald_gateway_active_waiters x',
    'herald_gateway_active_waiters{service="status-gateway"} 7',
    'herald_gateway_active_waiters_total 99',
    'nodejs_heap_size_used_bytes 1234'
  ].join('\n')
  t.equal(metricValue(text, 'herald_gateway_active_waiters'), 7)
  t.equal(metricValue(text, 'nodejs_heap_size_used_bytes'), 1234)
  t.equal(metricValue(text, 'missing'), null)
})
