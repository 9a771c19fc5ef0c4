// Runs a simulation: starts order and registration flows at a rate, plays each one out, and counts results.
import { setTimeout as sleep } from 'node:timers/promises'
import type { OrderSnapshotResponse, ProcessLogEntry, RegistrationEventBody } from '@herald/contracts'
import { HeraldProducer } from './producer.js'
import {
  darajaCallback, expectedPaymentStatus, payheroAfricaCallback, payheroV2Callback, planOrder, planRegistration,
  seededRandom, type OrderPlan
} from './scenarios.js'
import type { HeraldTarget } from './settings.js'

export interface SimulationOptions {
  orders: number
  registrations: number
  /** New flows started per second. */
  rate: number
  /** Stop starting flows after this many seconds (flows already started finish). */
  durationSeconds: number | undefined
  /** Divides every provider and back-office delay: 10 plays a 15 s payment in 1.5 s. */
  speed: number
  /** Share of callbacks a provider sends twice (they do retry). */
  duplicateRate: number
  /** Share of callbacks that arrive before the order is registered (parked by the ingest). */
  earlyCallbackRate: number
  seed: number
  /** Check at the end that the gateway reports what each flow should have produced. */
  verify: boolean
  runId: string
}

export interface SimulationSummary {
  orders: { started: number, finished: number, byOutcome: Record<string, number> }
  registrations: { started: number, finished: number, byStatus: Record<string, number> }
  calls: number
  failedCalls: Record<string, number>
  latencyMs: { p50: number, p95: number, max: number }
  verification: { checked: number, matched: number, mismatches: string[] } | undefined
  seconds: number
}

export type ProgressListener = (state: Readonly<SimulationState>) => void

export interface SimulationState {
  ordersStarted: number
  ordersFinished: number
  registrationsStarted: number
  registrationsFinished: number
  byOutcome: Record<string, number>
  byStatus: Record<string, number>
  failedCalls: Record<string, number>
}

function count (record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export async function runSimulation (target: HeraldTarget, options: SimulationOptions, onProgress?: ProgressListener): Promise<SimulationSummary> {
  const random = seededRandom(options.seed)
  const producer = new HeraldProducer(target)
  const state: SimulationState = {
    ordersStarted: 0, ordersFinished: 0, registrationsStarted: 0, registrationsFinished: 0, byOutcome: {}, byStatus: {}, failedCalls: {}
  }
  const expected = new Map<string, string>()
  const started = performance.now()
  const wait = (seconds: number): Promise<void> => sleep((seconds * 1000) / options.speed)
  const noteFailure = (kind: string, result: { code: string | undefined }): void => {
    if (result.code !== undefined) count(state.failedCalls, `${kind} ${result.code}`)
  }

  async function sendCallback (plan: OrderPlan): Promise<void> {
    const result = plan.channel === 'daraja'
      ? await producer.mpesaCallback(darajaCallback(plan, random))
      : plan.channel === 'payhero_v2'
        ? await producer.payheroCallback(payheroV2Callback(plan, random))
        : await producer.payheroCallback(payheroAfricaCallback(plan, random))
    noteFailure(`${plan.channel} callback`, result)
  }

  async function orderFlow (sequence: number): Promise<void> {
    const plan = planOrder(random, `sim-${options.runId}-o${sequence}`, sequence)
    const early = random() < options.earlyCallbackRate
    const twice = random() < options.duplicateRate
    if (early) {
      await sendCallback(plan)
      await wait(1)
    }
    const registered = await producer.upsertOrder(plan.orderId, plan.order)
    noteFailure('order', registered)
    if (registered.code === undefined) {
      if (!early) {
        await wait(plan.payment.delaySeconds)
        await sendCallback(plan)
      }
      if (twice) {
        await wait(2)
        await sendCallback(plan)
      }
      expected.set(plan.orderId, expectedPaymentStatus(plan.payment.outcome))
    }
    count(state.byOutcome, plan.payment.outcome)
    state.ordersFinished++
  }

  async function registrationFlow (sequence: number): Promise<void> {
    const plan = planRegistration(random, `sim-${options.runId}-r${sequence}`)
    const log: ProcessLogEntry[] = []
    for (const step of plan.steps) {
      await wait(step.afterSeconds)
      let body: RegistrationEventBody = step.body
      if (body.type === 'stage') {
        log.push({ stage: body.stage, status: body.status, message: body.message, timestamp: new Date().toISOString() })
      } else {
        body = { ...body, processLog: log }
      }
      const result = await producer.registrationEvent(plan.registrationId, body)
      noteFailure('registration', result)
      if (result.code !== undefined) break
    }
    count(state.byStatus, plan.finalStatus)
    state.registrationsFinished++
  }

  const total = options.orders + options.registrations
  const flows: Array<Promise<void>> = []
  const progressTimer = setInterval(() => onProgress?.(state), 250)
  try {
    for (let i = 0; i < total; i++) {
      if (options.durationSeconds !== undefined && performance.now() - started > options.durationSeconds * 1000) break
      // Interleave the two kinds in proportion, so both feeds are busy from the start.
      const orderShare = options.orders / total
      const wantOrder = state.ordersStarted < options.orders &&
        (state.registrationsStarted >= options.registrations || state.ordersStarted <= orderShare * i)
      if (wantOrder) flows.push(orderFlow(++state.ordersStarted))
      else flows.push(registrationFlow(++state.registrationsStarted))
      onProgress?.(state)
      await sleep(1000 / options.rate)
    }
    await Promise.all(flows)
  } finally {
    clearInterval(progressTimer)
    onProgress?.(state)
  }

  let verification: SimulationSummary['verification']
  if (options.verify && target.gatewayUrl !== undefined && target.adminToken !== undefined) {
    verification = await verifyOrders(target, expected)
  }

  const latencies = producer.calls.map((call) => call.ms).sort((a, b) => a - b)
  return {
    orders: { started: state.ordersStarted, finished: state.ordersFinished, byOutcome: state.byOutcome },
    registrations: { started: state.registrationsStarted, finished: state.registrationsFinished, byStatus: state.byStatus },
    calls: producer.calls.length,
    failedCalls: state.failedCalls,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies.at(-1) ?? 0 },
    verification,
    seconds: (performance.now() - started) / 1000
  }
}

/** Asks the gateway for each order: it must report the payment status its callback implies. */
async function verifyOrders (target: HeraldTarget, expected: Map<string, string>): Promise<NonNullable<SimulationSummary['verification']>> {
  const mismatches: string[] = []
  let matched = 0
  for (const [orderId, status] of expected) {
    let seen = 'unreachable'
    // The relay may still be moving the last events to Redis: give each order a few seconds.
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const response = await fetch(`${target.gatewayUrl}/api/orders/${encodeURIComponent(orderId)}`, {
          headers: { authorization: `Bearer ${target.adminToken}` },
          signal: AbortSignal.timeout(10_000)
        })
        seen = response.ok ? (await response.json() as OrderSnapshotResponse).paymentStatus : `HTTP ${response.status}`
      } catch {
        seen = 'unreachable'
      }
      if (seen === status) break
      await sleep(250)
    }
    if (seen === status) matched++
    else mismatches.push(`${orderId}: expected ${status}, gateway says ${seen}`)
  }
  return { checked: expected.size, matched, mismatches }
}
