// Scenarios 1 and 4: ramp N held long-polls (one order each) on one server process, then complete the
// orders at rate R and time each order from its callback POST being sent to its waiter's answer.
import { performance } from 'node:perf_hooks'
import type { Redis } from 'ioredis'
import { Pool } from 'undici'
import type { DarajaStkCallback } from '@herald/contracts'
import { darajaSuccess, type HeraldDriver, type RegisteredOrder } from '../herald-driver.js'
import { atRate, forEachConcurrently, waitUntil } from '../load.js'
import { LoopDelay, memoryPerUnit, readMemory, redisClients, type MemoryPerUnit } from '../observe.js'
import { metricValue, type ServiceProcess } from '../processes.js'
import { round, summarize, type LatencySummary } from '../stats.js'

export interface LongPollOptions {
  waiters: number
  /** Callbacks per second in the completion phase. */
  rate: number
  /** Long-polls opened per second in the ramp. */
  rampRate: number
  /** Waiters completed once before the "before" memory reading, so lazy start-up costs are not counted. */
  warmup: number
  holdTimeoutMs: number
  redis: Redis
  /** Called once everything is held, e.g. to take a heap snapshot. */
  onHeld?: () => Promise<void>
  /** Called around the completion phase, e.g. to CPU-profile it. */
  onCompletionStart?: () => Promise<void>
  onCompletionEnd?: () => Promise<void>
}

/** How a long-poll server under test is driven: Herald, or the seed design. */
export interface LongPollTarget {
  name: string
  server: ServiceProcess
  /** Every process doing the target's work, for CPU time per order (Herald: gateway and ingest). */
  processes: ServiceProcess[]
  /** Redis CLIENT SETNAME prefix of the server's connections. */
  redisNamePrefix: string
  prepare (index: number): Promise<{ ok: boolean, latencyMs: number }>
  hold (index: number, timeoutMs: number): Promise<{ ok: boolean, detail?: string }>
  heldCount (): Promise<number>
  complete (index: number): Promise<{ ok: boolean }>
  close (): Promise<void>
}

export interface LongPollResult {
  target: string
  waiters: number
  rate: number
  preparation: { seconds: number, perSecond: number, errors: number, latency: LatencySummary } | null
  ramp: { seconds: number, held: number, allHeld: boolean }
  memory: MemoryPerUnit
  redisConnections: { server: number, connectedDuringHold: number, connectedBefore: number }
  completion: {
    sendSeconds: number
    offeredRate: number
    callbackErrors: number
    callbackLatency: LatencySummary
    delivered: number
    errors: number
    errorSamples: string[]
    deliveryLatency: LatencySummary
    /** From the callback's answer (the ingest committed it) to the waiter's answer; negative when the waiter was first. */
    afterCallbackAnswer: LatencySummary
    /** CPU time per completed order in each process while the orders were completed. */
    cpuMsPerOrder: Record<string, number>
  }
  benchLoopDelayMs: { p50: number, p99: number, max: number }
}

export async function runLongPoll (target: LongPollTarget, options: LongPollOptions): Promise<LongPollResult> {
  const { waiters, warmup } = options
  const connectedBefore = (await redisClients(options.redis, target.redisNamePrefix)).connected

  // Orders for the warm-up cycle come first: indices [0, warmup), then the measured ones.
  const preparationLatency: number[] = []
  let preparationErrors = 0
  const preparationStarted = performance.now()
  await forEachConcurrently(warmup + waiters, 32, async (index) => {
    const { ok, latencyMs } = await target.prepare(index)
    if (ok) preparationLatency.push(latencyMs)
    else preparationErrors++
  })
  const preparationSeconds = (performance.now() - preparationStarted) / 1000
  if (preparationErrors > 0) throw new Error(`${target.name}: ${preparationErrors} of ${warmup + waiters} orders could not be prepared`)

  if (warmup > 0) {
    const held = Array.from({ length: warmup }, async (_, index) => await target.hold(index, options.holdTimeoutMs))
    await waitUntil(async () => await target.heldCount() >= warmup, 30_000)
    await forEachConcurrently(warmup, 16, async (index) => { await target.complete(index) })
    await Promise.all(held)
    await waitUntil(async () => await target.heldCount() === 0, 10_000)
  }

  const before = await readMemory(target.server)

  const sendAt = new Float64Array(waiters)
  const answeredAt = new Float64Array(waiters)
  const receivedAtOf = new Float64Array(waiters)
  const latencies: number[] = []
  const errorSamples: string[] = []
  let delivered = 0
  const answers: Array<Promise<void>> = []
  const rampStarted = performance.now()
  await atRate(waiters, options.rampRate, (i) => {
    answers.push(target.hold(warmup + i, options.holdTimeoutMs).then(({ ok, detail }) => {
      const receivedAt = performance.now()
      if (!ok || sendAt[i] === 0) {
        if (errorSamples.length < 5) errorSamples.push(sendAt[i] === 0 ? `answered before its callback: ${detail ?? ''}` : detail ?? 'failed')
        return
      }
      delivered++
      receivedAtOf[i] = receivedAt
      latencies.push(receivedAt - sendAt[i])
    }, (err: unknown) => {
      if (errorSamples.length < 5) errorSamples.push(String(err))
    }))
  })
  const allHeld = await waitUntil(async () => await target.heldCount() >= waiters, 60_000 + waiters * 10, 250)
  const held = await target.heldCount()
  const rampSeconds = (performance.now() - rampStarted) / 1000

  const after = await readMemory(target.server)
  const during = await redisClients(options.redis, target.redisNamePrefix)
  await options.onHeld?.()

  await options.onCompletionStart?.()
  const cpuBefore = await Promise.all(target.processes.map(async (process) => await process.cpuMs()))
  const loopDelay = new LoopDelay()
  const callbackLatency: number[] = []
  let callbackErrors = 0
  const callbacks: Array<Promise<void>> = []
  const { seconds: sendSeconds } = await atRate(waiters, options.rate, (i) => {
    const sentAt = performance.now()
    sendAt[i] = sentAt
    callbacks.push(target.complete(warmup + i).then(({ ok }) => {
      if (!ok) {
        callbackErrors++
        return
      }
      answeredAt[i] = performance.now()
      callbackLatency.push(answeredAt[i] - sentAt)
    }, () => { callbackErrors++ }))
  })
  await Promise.all(callbacks)
  let settled = 0
  for (const answer of answers) answer.finally(() => { settled++ }).catch(() => {})
  await waitUntil(() => settled >= answers.length, 60_000, 20)
  const benchLoopDelayMs = loopDelay.stop()
  const afterCallbackAnswer: number[] = []
  for (let i = 0; i < waiters; i++) {
    if (receivedAtOf[i] > 0 && answeredAt[i] > 0) afterCallbackAnswer.push(receivedAtOf[i] - answeredAt[i])
  }
  const cpuMsPerOrder: Record<string, number> = {}
  for (const [i, process] of target.processes.entries()) cpuMsPerOrder[process.name] = round((await process.cpuMs() - cpuBefore[i]) / waiters, 3)
  await options.onCompletionEnd?.()

  return {
    target: target.name,
    waiters,
    rate: options.rate,
    preparation: target.name === 'herald'
      ? { seconds: round(preparationSeconds), perSecond: round(preparationLatency.length / preparationSeconds, 0), errors: preparationErrors, latency: summarize(preparationLatency) }
      : null,
    ramp: { seconds: round(rampSeconds), held, allHeld },
    memory: memoryPerUnit(before, after, held),
    redisConnections: { server: during.named, connectedDuringHold: during.connected, connectedBefore },
    completion: {
      sendSeconds: round(sendSeconds),
      offeredRate: round(waiters / sendSeconds, 0),
      callbackErrors,
      callbackLatency: summarize(callbackLatency),
      delivered,
      errors: waiters - delivered,
      errorSamples,
      deliveryLatency: summarize(latencies),
      afterCallbackAnswer: summarize(afterCallbackAnswer),
      cpuMsPerOrder
    },
    benchLoopDelayMs
  }
}

/** Herald: orders registered through the ingest, held on the gateway, completed by M-PESA callbacks. */
export function heraldLongPollTarget (driver: HeraldDriver, gateway: ServiceProcess, ingest: ServiceProcess, runTag: string, instanceId: string): LongPollTarget {
  const orders: RegisteredOrder[] = []
  return {
    name: 'herald',
    server: gateway,
    processes: [gateway, ingest],
    redisNamePrefix: `herald-gateway-${instanceId}`,
    async prepare (index) {
      const started = performance.now()
      const answer = await driver.registerOrder(index, runTag)
      if (answer.order === undefined) return { ok: false, latencyMs: 0 }
      orders[index] = answer.order
      return { ok: true, latencyMs: performance.now() - started }
    },
    async hold (index, timeoutMs) {
      const answer = await driver.waitForOrder(orders[index], timeoutMs)
      const ok = answer.status === 200 && answer.body.paymentStatus === 'completed' && !answer.body.timedOut
      return ok ? { ok } : { ok, detail: `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` }
    },
    async heldCount () {
      return metricValue(await gateway.metrics(), 'herald_gateway_active_waiters') ?? 0
    },
    async complete (index) {
      const answer = await driver.mpesaCallback(darajaSuccess(orders[index], `BX${runTag.slice(0, 4).toUpperCase()}${index}`))
      return { ok: answer.status === 200 }
    },
    async close () {}
  }
}

/** The seed design: nothing to register; hold on GET /wait/:id, complete with POST /callback/:id. */
export function seedLongPollTarget (server: ServiceProcess, runTag: string, connectionName: string, connections: number): LongPollTarget {
  const pool = new Pool(server.url, { connections, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 })
  const callbacks = new Pool(server.url, { connections: 256, keepAliveTimeout: 120_000 })
  const orderId = (index: number): string => `seed-${runTag}-o${index}`
  const callbackBody = (index: number): DarajaStkCallback => darajaSuccess({ checkoutRequestId: `ws_CO_${runTag}_${index}`, merchantRequestId: `seed-${index}` }, `SX${index}`)
  return {
    name: 'seed',
    server,
    processes: [server],
    redisNamePrefix: connectionName,
    async prepare () {
      return { ok: true, latencyMs: 0 }
    },
    async hold (index, timeoutMs) {
      const response = await pool.request({ method: 'GET', path: `/wait/${orderId(index)}?timeout=${timeoutMs}` })
      const body = await response.body.json() as { paymentStatus?: string, timedOut?: boolean }
      const ok = response.statusCode === 200 && body.paymentStatus === 'completed' && body.timedOut === false
      return ok ? { ok } : { ok, detail: `${response.statusCode} ${JSON.stringify(body).slice(0, 200)}` }
    },
    async heldCount () {
      const response = await callbacks.request({ method: 'GET', path: '/stats' })
      return (await response.body.json() as { subscribed: number }).subscribed
    },
    async complete (index) {
      const response = await callbacks.request({
        method: 'POST',
        path: `/callback/${orderId(index)}`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(callbackBody(index))
      })
      const body = await response.body.json() as { receivers?: number }
      return { ok: response.statusCode === 200 && body.receivers === 1 }
    },
    async close () {
      await Promise.all([pool.destroy(), callbacks.destroy()])
    }
  }
}
