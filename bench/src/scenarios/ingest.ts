// Scenario 3: how many callbacks per second the ingest takes (each verified, committed to Postgres with
// its outbox row and published to Redis), beside a bare Fastify route parsing the same body, same run.
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import { darajaSuccess, type HeraldDriver, type RegisteredOrder } from '../herald-driver.js'
import { closedLoop } from '../load.js'
import type { ServiceProcess } from '../processes.js'
import { ratio, round, summarize, type LatencySummary } from '../stats.js'

export interface IngestOptions {
  seconds: number
  concurrency: number
  runTag: string
  /** Registrations the signed events are spread over. */
  registrations: number
}

export interface ThroughputResult {
  name: string
  perSecond: number
  completed: number
  errors: number
  errorSamples: string[]
  latency: LatencySummary
  /** CPU time the server process used per answered request: capacity per core is 1000 / this. */
  cpuMsPerRequest: number | null
  /** perSecond over the bare route's. */
  ratioToBare: number | null
}

export interface IngestResult {
  seconds: number
  concurrency: number
  bare: ThroughputResult
  signedRegistrationEvents: ThroughputResult
  signedOrderUpserts: ThroughputResult
  mpesaCallbacks: ThroughputResult
}

type Call = (index: number) => Promise<{ ok: boolean, detail?: string }>

async function measure (name: string, server: ServiceProcess, seconds: number, concurrency: number, call: Call, limit = Number.POSITIVE_INFINITY): Promise<ThroughputResult> {
  const cpuBefore = await server.cpuMs()
  const latencies: number[] = []
  const errorSamples: string[] = []
  let errors = 0
  const { seconds: elapsed } = await closedLoop(seconds * 1000, concurrency, async (index) => {
    if (index >= limit) return false
    const started = performance.now()
    try {
      const { ok, detail } = await call(index)
      if (ok) latencies.push(performance.now() - started)
      else {
        errors++
        if (errorSamples.length < 5) errorSamples.push(detail ?? 'failed')
      }
    } catch (err) {
      errors++
      if (errorSamples.length < 5) errorSamples.push(String(err))
    }
    return true
  })
  const cpuMs = await server.cpuMs() - cpuBefore
  const answered = latencies.length + errors
  return {
    name,
    perSecond: round(latencies.length / elapsed, 0),
    completed: latencies.length,
    errors,
    errorSamples,
    latency: summarize(latencies),
    cpuMsPerRequest: answered === 0 ? null : round(cpuMs / answered, 3),
    ratioToBare: null
  }
}

export async function runIngest (driver: HeraldDriver, ingest: ServiceProcess, bare: ServiceProcess, options: IngestOptions): Promise<IngestResult> {
  const { seconds, concurrency, runTag } = options
  const warmup = Math.min(1, seconds)
  const barePool = new Pool(bare.url, { connections: concurrency, keepAliveTimeout: 120_000 })
  const bareBody = JSON.stringify(darajaSuccess({ checkoutRequestId: 'ws_CO_bare', merchantRequestId: 'bare' }, 'BARE'))
  const bareCall: Call = async () => {
    const response = await barePool.request({ method: 'POST', path: '/callback/token', headers: { 'content-type': 'application/json' }, body: bareBody })
    await response.body.dump()
    return { ok: response.statusCode === 200 }
  }
  await measure('warm-up', bare, warmup, concurrency, bareCall)
  const bareResult = await measure('bare Fastify route', bare, seconds, concurrency, bareCall)
  await barePool.destroy()

  let eventSeq = 0
  const eventCall: Call = async (index) => {
    const answer = await driver.registrationEvent(`bench-${runTag}-i${index % options.registrations}`, { type: 'stage', stage: `load_${eventSeq++}`, status: 'started', message: 'ingest load' })
    return { ok: answer.status < 300, detail: `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` }
  }
  await measure('warm-up', ingest, warmup, concurrency, eventCall)
  const events = await measure('signed registration events', ingest, seconds, concurrency, eventCall)

  const orders: RegisteredOrder[] = []
  let orderSeq = 0
  const orderCall: Call = async () => {
    const answer = await driver.registerOrder(1_000_000 + orderSeq++, `${runTag}i`)
    if (answer.order !== undefined) orders.push(answer.order)
    return { ok: answer.order !== undefined, detail: `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` }
  }
  const upserts = await measure('signed order upserts', ingest, seconds, concurrency, orderCall)

  // Each registered order gets its one success callback, as long as orders last.
  const callbackCall: Call = async (index) => {
    const answer = await driver.mpesaCallback(darajaSuccess(orders[index], `IX${index}`))
    return { ok: answer.status === 200, detail: `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` }
  }
  const callbacks = await measure('M-PESA callbacks', ingest, seconds, concurrency, callbackCall, orders.length)

  for (const result of [events, upserts, callbacks]) result.ratioToBare = ratio(result.perSecond, bareResult.perSecond, 3)
  return { seconds, concurrency, bare: bareResult, signedRegistrationEvents: events, signedOrderUpserts: upserts, mpesaCallbacks: callbacks }
}
