#!/usr/bin/env node
// `pnpm simulate`: realistic traffic against a running Herald, with a live progress line and a summary.
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { loadTarget } from './settings.js'
import { runSimulation, type SimulationState, type SimulationSummary } from './simulate.js'

const usage = `Usage: pnpm simulate [options]

Drives orders (PayHero and Daraja callbacks) and registrations (stages, then a verdict) against a running
Herald. Reads INGEST_URL, GATEWAY_URL, PAYHERO_CALLBACK_TOKEN, MPESA_CALLBACK_TOKEN, INTERNAL_WEBHOOK_SECRETS
and ADMIN_TOKEN from the environment, else from .data/dev-secrets.json (written by \`pnpm start\`).

  -n, --count <n>          flows in all, split between orders and registrations (default 40)
      --orders <n>         orders (overrides the split)
      --registrations <n>  registrations (overrides the split)
  -r, --rate <n>           new flows per second (default 2)
  -d, --duration <s>       stop starting new flows after this many seconds
  -s, --speed <x>          play provider and back-office delays x times faster (default 1)
      --duplicates <0-1>   share of callbacks sent twice, as providers retry (default 0.05)
      --early <0-1>        share of callbacks arriving before their order (default 0.02)
      --seed <n>           repeat a run exactly
      --no-verify          skip checking the final states through the gateway
  -h, --help`

function number (value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < 0) {
    process.stderr.write(`--${name}: expected a number, got ${value}\n`)
    process.exit(2)
  }
  return parsed
}

const { values } = parseArgs({
  options: {
    count: { type: 'string', short: 'n' },
    orders: { type: 'string' },
    registrations: { type: 'string' },
    rate: { type: 'string', short: 'r' },
    duration: { type: 'string', short: 'd' },
    speed: { type: 'string', short: 's' },
    duplicates: { type: 'string' },
    early: { type: 'string' },
    seed: { type: 'string' },
    'no-verify': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  }
})
if (values.help === true) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}

let loaded
try {
  loaded = loadTarget()
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`)
  process.exit(2)
}
const { target, source } = loaded
const total = number(values.count, 'count', 40)
const orders = number(values.orders, 'orders', Math.ceil(total * 0.6))
const registrations = number(values.registrations, 'registrations', total - Math.ceil(total * 0.6))
const options = {
  orders,
  registrations,
  rate: Math.max(0.01, number(values.rate, 'rate', 2)),
  durationSeconds: values.duration === undefined ? undefined : number(values.duration, 'duration', 0),
  speed: Math.max(0.01, number(values.speed, 'speed', 1)),
  duplicateRate: number(values.duplicates, 'duplicates', 0.05),
  earlyCallbackRate: number(values.early, 'early', 0.02),
  seed: number(values.seed, 'seed', randomBytes(4).readUInt32LE()),
  verify: values['no-verify'] !== true,
  runId: randomBytes(3).toString('hex')
}

const out = process.stdout
out.write(`Simulating ${orders} orders and ${registrations} registrations at ${options.rate}/s (speed ×${options.speed}, seed ${options.seed}, run ${options.runId})\n`)
out.write(`  ingest ${target.ingestUrl}   gateway ${target.gatewayUrl ?? '(unknown)'}   settings from ${source}\n`)
if (target.gatewayUrl !== undefined && target.adminToken !== undefined) {
  out.write(`  watch it live: ${target.gatewayUrl}/?token=${target.adminToken}\n`)
}

const bar = (done: number, all: number, width = 20): string => {
  const filled = all === 0 ? width : Math.round((done / all) * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
}
const failures = (state: SimulationState): number => Object.values(state.failedCalls).reduce((a, b) => a + b, 0)
let lastLine = 0
function progress (state: Readonly<SimulationState>): void {
  const line = `orders ${bar(state.ordersFinished, orders)} ${state.ordersFinished}/${orders}  ` +
    `registrations ${bar(state.registrationsFinished, registrations)} ${state.registrationsFinished}/${registrations}  ` +
    `in flight ${state.ordersStarted - state.ordersFinished + state.registrationsStarted - state.registrationsFinished}  ` +
    `failed calls ${failures(state)}`
  if (out.isTTY) {
    out.write(`\r${line}\x1b[K`)
  } else if (Date.now() - lastLine > 2000) {
    lastLine = Date.now()
    out.write(`${line}\n`)
  }
}

function table (record: Record<string, number>): string {
  const entries = Object.entries(record).sort((a, b) => b[1] - a[1])
  return entries.length === 0 ? '-' : entries.map(([key, n]) => `${key} ${n}`).join(', ')
}

function report (summary: SimulationSummary): void {
  out.write(`${out.isTTY ? '\n' : ''}\nDone in ${summary.seconds.toFixed(1)} s\n`)
  out.write(`  orders          ${summary.orders.finished}/${summary.orders.started}: ${table(summary.orders.byOutcome)}\n`)
  out.write(`  registrations   ${summary.registrations.finished}/${summary.registrations.started}: ${table(summary.registrations.byStatus)}\n`)
  out.write(`  ingest calls    ${summary.calls}, latency p50 ${summary.latencyMs.p50.toFixed(1)} ms, p95 ${summary.latencyMs.p95.toFixed(1)} ms, max ${summary.latencyMs.max.toFixed(1)} ms\n`)
  out.write(`  failed calls    ${table(summary.failedCalls)}\n`)
  if (summary.verification !== undefined) {
    const v = summary.verification
    out.write(`  gateway check   ${v.matched}/${v.checked} orders report the expected payment status\n`)
    for (const line of v.mismatches.slice(0, 10)) out.write(`    ${line}\n`)
  }
}

const summary = await runSimulation(target, options, progress)
report(summary)
const failed = Object.keys(summary.failedCalls).length > 0 || (summary.verification?.mismatches.length ?? 0) > 0
process.exit(failed ? 1 : 0)
