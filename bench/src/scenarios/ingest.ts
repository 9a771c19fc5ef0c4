// Scenario 3: how many callbacks per second the ingest takes (each verified, committed to Postgres with
// its outbox row and published to Redis), beside a bare Fastify route parsing the same body, same run.
import { performance } from 'node:perf_hooks'
import { Pool } from 'undici'
import { darajaSuccess, type HeraldDriver, type RegisteredOrder } from '../herald-driver.js'
import { closedLoop } from '../load.js'
import { machineCpu } from '../machine-cpu.js'
import { metricValue, type ServiceProcess } from '../processes.js'
import { ratio, round, summarize, type LatencySummary } from '../stats.js'

export interface IngestOptions {
  withBackendEndpoint?: BackendEndpointIngest
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
  /**
   * CPU time per answered request of the rest of the path on this machine, same window: all Postgres
   * processes, redis-server (other users of the machine count too), and the load generator.
   */
  pathCpuMsPerRequest?: { postgres: number, redis: number, client: number }
  /** perSecond over the bare route's. */
  ratioToBare: number | null
  /** Writes per group-commit transaction in the window (the ingest's batch-size histogram); null for the bare route. */
  writesPerCommit: number | null
}

export interface RouteResults {
  signedRegistrationEvents: ThroughputResult
  signedOrderUpserts: ThroughputResult
  mpesaCallbacks: ThroughputResult
}

export interface IngestResult extends RouteResults {
  seconds: number
  concurrency: number
  bare: ThroughputResult
  /**
   * The same routes, measured right after each of the above, on a second ingest process configured with
   * one back-end webhook endpoint (a bare route answering 200): what outbound delivery costs the hot path.
   */
  withBackendEndpoint?: RouteResults & {
    /** Webhook attempts the endpoint answered 2xx, and events it had not taken when the routes were done. */
    delivered: number
    undeliveredAtEnd: number | null
    /** Seconds from the end of the measurements until the endpoint had taken everything (null: not within 60 s). */
    drainSeconds: number | null
  }
}

/** A second ingest with one back-end endpoint configured, measured beside the first. */
export interface BackendEndpointIngest {
  driver: HeraldDriver
  ingest: ServiceProcess
}

type Call = (index: number) => Promise<{ ok: boolean, detail?: string }>

/** Writes and commits of the ingest's group commit so far (zero for a server without them). */
async function batchTotals (server: ServiceProcess): Promise<{ writes: number, commits: number }> {
  const text = await server.metrics()
  return { writes: metricValue(text, 'herald_ingest_batch_size_sum') ?? 0, commits: metricValue(text, 'herald_ingest_batch_size_count') ?? 0 }
}

async function measure (name: string, server: ServiceProcess, seconds: number, concurrency: number, call: Call, limit = Number.POSITIVE_INFINITY): Promise<ThroughputResult> {
  const batchesBefore = await batchTotals(server)
  const cpuBefore = await server.cpuMs()
  const pathBefore = await machineCpu()
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
  const pathAfter = await machineCpu()
  const batchesAfter = await batchTotals(server)
  const commits = batchesAfter.commits - batchesBefore.commits
  const answered = latencies.length + errors
  const perRequest = (key: keyof typeof pathAfter) => round((pathAfter[key] - pathBefore[key]) / Math.max(1, answered), 3)
  return {
    name,
    perSecond: round(latencies.length / elapsed, 0),
    completed: latencies.length,
    errors,
    errorSamples,
    latency: summarize(latencies),
    cpuMsPerRequest: answered === 0 ? null : round(cpuMs / answered, 3),
    pathCpuMsPerRequest: { postgres: perRequest('postgres'), redis: perRequest('redis'), client: perRequest('client') },
    ratioToBare: null,
    writesPerCommit: commits === 0 ? null : round((batchesAfter.writes - batchesBefore.writes) / commits, 1)
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

  const withEndpoint = options.withBackendEndpoint
  // Each route on the plain ingest, then at once on the one with an endpoint: the same minute of a shared machine.
  const [events, eventsB] = await measurePair('signed registration events', ingest, withEndpoint, warmup, seconds, concurrency, (target) => {
    let eventSeq = 0
    return async (index) => {
      const answer = await target.driver.registrationEvent(`bench-${runTag}${target.tag}-i${index % options.registrations}`, { type: 'stage', stage: `load_${eventSeq++}`, status: 'started', message: 'ingest load' })
      return { ok: answer.status < 300, detail: `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` }
    }
  }, driver)

  const orders = new Map<string, RegisteredOrder[]>()
  const [upserts, upsertsB] = await measurePair('signed order upserts', ingest, withEndpoint, 0, seconds, concurrency, (target) => {
    let orderSeq = 0
    const list: RegisteredOrder[] = []
    orders.set(target.tag, list)
    return async () => {
      const answer = await target.driver.registerOrder(1_000_000 + orderSeq++, `${runTag}${target.tag}i`)
      if (answer.order !== undefined) list.push(answer.order)
      return { ok: answer.order !== undefined, detail: `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` }
    }
  }, driver)

  // Each registered order gets its one success callback, as long as orders last.
  const [callbacks, callbacksB] = await measurePair('M-PESA callbacks', ingest, withEndpoint, 0, seconds, concurrency, (target) => {
    const list = orders.get(target.tag)!
    return async (index) => {
      if (index >= list.length) return { ok: false, detail: 'out of orders' }
      const answer = await target.driver.mpesaCallback(darajaSuccess(list[index]!, `IX${target.tag}${index}`))
      return { ok: answer.status === 200, detail: `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` }
    }
  }, driver, (tag) => orders.get(tag)!.length)

  const result: IngestResult = { seconds, concurrency, bare: bareResult, signedRegistrationEvents: events, signedOrderUpserts: upserts, mpesaCallbacks: callbacks }
  const all = [events, upserts, callbacks]
  if (withEndpoint !== undefined) {
    const text = await withEndpoint.ingest.metrics()
    const undeliveredAtEnd = metricValue(text, 'herald_ingest_backend_undelivered')
    const ended = performance.now()
    let drainSeconds: number | null = null
    while (performance.now() - ended < 60_000) {
      if (metricValue(await withEndpoint.ingest.metrics(), 'herald_ingest_backend_undelivered') === 0) {
        drainSeconds = round((performance.now() - ended) / 1000, 1)
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const delivered = (await withEndpoint.ingest.metrics()).split('\n')
      .filter((line) => line.startsWith('herald_ingest_backend_delivery_attempts_total{') && line.includes('result="delivered"'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0)
    result.withBackendEndpoint = { signedRegistrationEvents: eventsB!, signedOrderUpserts: upsertsB!, mpesaCallbacks: callbacksB!, delivered, undeliveredAtEnd, drainSeconds }
    all.push(eventsB!, upsertsB!, callbacksB!)
  }
  for (const r of all) r.ratioToBare = ratio(r.perSecond, bareResult.perSecond, 3)
  return result
}

interface Target { driver: HeraldDriver, tag: string }

/** Measures one route on the plain ingest, then (when there is one) on the ingest with an endpoint. */
async function measurePair (
  name: string, ingest: ServiceProcess, withEndpoint: BackendEndpointIngest | undefined, warmup: number, seconds: number, concurrency: number,
  callFor: (target: Target) => Call, driver: HeraldDriver, limitFor?: (tag: string) => number
): Promise<[ThroughputResult, ThroughputResult | undefined]> {
  const targets: Array<{ server: ServiceProcess, target: Target }> = [{ server: ingest, target: { driver, tag: '' } }]
  if (withEndpoint !== undefined) targets.push({ server: withEndpoint.ingest, target: { driver: withEndpoint.driver, tag: 'w' } })
  const results: ThroughputResult[] = []
  for (const { server, target } of targets) {
    const call = callFor(target)
    if (warmup > 0) await measure('warm-up', server, warmup, concurrency, call)
    const label = target.tag === '' ? name : `${name}, one back-end endpoint`
    results.push(await measure(label, server, seconds, concurrency, call, limitFor?.(target.tag)))
  }
  return [results[0]!, results[1]]
}
