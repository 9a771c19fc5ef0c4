// A rolling window of this replica's events per second and delivery latency, sampled from its own metrics.
import type { Counter, Histogram } from 'prom-client'
import type { FastifyBaseLogger } from 'fastify'
import type { GatewayActivity, GatewayActivityPoint } from '@herald/contracts'
import { PeriodicTask } from '@herald/service-kit'

/** A cumulative histogram bucket: how many observations were at most `le` (Infinity for `+Inf`). */
export interface LatencyBucket { le: number, count: number }

/**
 * The q-quantile of the observations counted by cumulative `buckets` (sorted by `le`, the last `+Inf`), as
 * Prometheus' `histogram_quantile` estimates it: linear within the bucket the rank falls in, from 0 for the
 * first bucket; a rank in the `+Inf` bucket gives the highest finite bound. Null when nothing was observed.
 */
export function quantileFromBuckets (buckets: readonly LatencyBucket[], q: number): number | null {
  const total = buckets.at(-1)?.count ?? 0
  if (total <= 0) return null
  const rank = q * total
  let lowerBound = 0
  let lowerCount = 0
  for (const { le, count } of buckets) {
    if (count >= rank && count > lowerCount) {
      if (le === Infinity) return lowerBound
      return lowerBound + (le - lowerBound) * (rank - lowerCount) / (count - lowerCount)
    }
    if (le !== Infinity) lowerBound = le
    lowerCount = count
  }
  return lowerBound
}

interface Totals { at: number, events: number, buckets: LatencyBucket[] }

export interface DeliveryActivityOptions {
  /** Stream events read (any labels; summed). */
  events: Pick<Counter, 'get'>
  /** Delivery latency in seconds (any labels besides `le`; summed per bucket). */
  latency: Pick<Histogram, 'get'>
  log: FastifyBaseLogger
  stepMs?: number
  windowMs?: number
  now?: () => number
}

/**
 * Reads the two cumulative metrics every step and keeps the differences for the last window: what the
 * dashboard charts without a Prometheus server beside the gateway. Counters that went backwards (a
 * registry reset) start a new baseline instead of a negative step.
 */
export class DeliveryActivity {
  readonly #options: Required<DeliveryActivityOptions>
  readonly #points: GatewayActivityPoint[] = []
  #last: Totals | undefined
  readonly #steps: PeriodicTask
  #started = false
  #sampling: Promise<void> | undefined

  constructor (options: DeliveryActivityOptions) {
    this.#options = { stepMs: 1000, windowMs: 120_000, now: Date.now, ...options }
    // A failed read keeps the previous baseline: the next step covers both.
    this.#steps = new PeriodicTask({ name: 'activity sample', intervalMs: this.#options.stepMs, log: options.log, run: () => this.sample() })
  }

  /** Takes the baseline now, then a point every step. Idempotent. */
  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#steps.start()
    await this.sample()
  }

  /** Stops sampling and waits for a read in progress. */
  async close (): Promise<void> {
    await this.#steps.close()
  }

  /** Reads the metrics once and appends the point since the previous read; overlapping calls share one read. */
  async sample (): Promise<void> {
    this.#sampling ??= this.#read().finally(() => { this.#sampling = undefined })
    return this.#sampling
  }

  snapshot (): GatewayActivity {
    return { stepSeconds: this.#options.stepMs / 1000, windowSeconds: this.#options.windowMs / 1000, points: [...this.#points] }
  }

  async #read (): Promise<void> {
    const totals = await this.#totals()
    const last = this.#last
    this.#last = totals
    if (last === undefined || totals.at <= last.at) return
    // A labelled histogram has no buckets before its first observation: those count as zeros.
    const before = new Map(last.buckets.map((bucket) => [bucket.le, bucket.count]))
    const step = totals.buckets.map((bucket) => ({ le: bucket.le, count: bucket.count - (before.get(bucket.le) ?? 0) }))
    if (totals.events < last.events || step.some((bucket) => bucket.count < 0)) return
    this.#points.push({
      at: totals.at,
      eventsPerSecond: (totals.events - last.events) / ((totals.at - last.at) / 1000),
      deliveries: step.at(-1)?.count ?? 0,
      latencyP50Seconds: quantileFromBuckets(step, 0.5),
      latencyP99Seconds: quantileFromBuckets(step, 0.99)
    })
    const oldest = totals.at - this.#options.windowMs
    while (this.#points.length > 0 && this.#points[0]!.at <= oldest) this.#points.shift()
  }

  async #totals (): Promise<Totals> {
    const [events, latency] = await Promise.all([this.#options.events.get(), this.#options.latency.get()])
    const byBound = new Map<number, number>()
    for (const value of latency.values) {
      if (value.metricName?.endsWith('_bucket') !== true) continue
      const le = value.labels.le === '+Inf' ? Infinity : Number(value.labels.le)
      byBound.set(le, (byBound.get(le) ?? 0) + value.value)
    }
    return {
      at: this.#options.now(),
      events: events.values.reduce((sum, value) => sum + value.value, 0),
      buckets: [...byBound.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }))
    }
  }
}
