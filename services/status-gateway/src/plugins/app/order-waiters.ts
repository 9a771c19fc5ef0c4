// Held long-polls, indexed by order: the stream consumer wakes exactly the waiters of the order that changed.
import fp from 'fastify-plugin'
import type { FastifyBaseLogger, FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { OrderSnapshot, OrderWaitResponse } from '@herald/contracts'
import { isFinalPayment, newerOrder, orderForReader } from './status-store.js'
import { secondsSince, type GatewayMetrics, type LongPollOutcome } from './gateway-metrics.js'

const WAITER = Symbol('herald.orderWaiter')
type RawWithWaiter = ServerResponse & { [WAITER]?: OrderWaiter }

/** Orders whose long-poll requests are counted until they answer a final status; bounded. */
const MAX_COUNTED_ORDERS = 50_000

/**
 * One held long-poll. Small on purpose: no closures, the timer and the 'close' listener are shared
 * functions that get the waiter as an argument (or find it on the response).
 */
export class OrderWaiter {
  readonly owner: OrderWaiters
  readonly orderId: string
  readonly reply: FastifyReply
  readonly showCustomer: boolean
  readonly startedAt = performance.now()
  /** Answers once the order's version passes this. */
  since = 0
  /** False between registering and the first state read: events are only remembered then. */
  armed = false
  done = false
  /** The newest state seen: from the read, or from an event that arrived during the read. */
  known: OrderSnapshot | null = null
  timer: NodeJS.Timeout | undefined = undefined

  constructor (owner: OrderWaiters, orderId: string, reply: FastifyReply, showCustomer: boolean) {
    this.owner = owner
    this.orderId = orderId
    this.reply = reply
    this.showCustomer = showCustomer
  }
}

function onResponseClose (this: RawWithWaiter): void {
  const waiter = this[WAITER]
  waiter?.owner.remove(waiter)
}

function onWaiterTimeout (waiters: OrderWaiters, waiter: OrderWaiter): void {
  waiters.timeOut(waiter).catch(() => {})
}

export interface OrderWaitersOptions {
  metrics: GatewayMetrics
  /** The current state on timeout: the Redis snapshot checked against Postgres. */
  readCurrent: (orderId: string) => Promise<OrderSnapshot | null>
  log: FastifyBaseLogger
}

export class OrderWaiters {
  readonly #index = new Map<string, Set<OrderWaiter>>()
  readonly #requestsPerOrder = new Map<string, number>()
  readonly #options: OrderWaitersOptions
  #size = 0
  #closing = false

  constructor (options: OrderWaitersOptions) {
    this.#options = options
  }

  /** Waiters held or registered right now, all orders together. */
  get size (): number {
    return this.#size
  }

  /** Orders with at least one waiter (what degraded mode re-checks in Postgres). */
  orderIds (): string[] {
    return [...this.#index.keys()]
  }

  /**
   * Indexes a waiter before its state is read, so an event landing during the read is not lost; it
   * is removed as soon as the client goes away.
   */
  register (orderId: string, reply: FastifyReply, showCustomer: boolean): OrderWaiter {
    const waiter = new OrderWaiter(this, orderId, reply, showCustomer)
    let waiters = this.#index.get(orderId)
    if (waiters === undefined) {
      waiters = new Set()
      this.#index.set(orderId, waiters)
    }
    waiters.add(waiter)
    this.#size++
    this.#options.metrics.activeWaiters.inc()
    const raw = reply.raw as RawWithWaiter
    raw[WAITER] = waiter
    raw.once('close', onResponseClose)
    return waiter
  }

  /** Counts a long-poll request toward requests-per-payment; one that finds a final order uncounted is skipped. */
  countRequest (orderId: string, finalAtStart: boolean): void {
    const count = this.#requestsPerOrder.get(orderId)
    if (count === undefined && finalAtStart) return
    if (count === undefined && this.#requestsPerOrder.size >= MAX_COUNTED_ORDERS) {
      const oldest = this.#requestsPerOrder.keys().next().value
      if (oldest !== undefined) this.#requestsPerOrder.delete(oldest)
    }
    this.#requestsPerOrder.set(orderId, (count ?? 0) + 1)
  }

  /** Starts holding: answers when an event passes `since`, or with the current state after `timeoutMs`. */
  arm (waiter: OrderWaiter, since: number, timeoutMs: number, current: OrderSnapshot): void {
    if (waiter.done) return
    waiter.since = since
    waiter.known = newerOrder(waiter.known, current)
    if (this.#closing) {
      this.answer(waiter, waiter.known!, 'timed_out', true)
      return
    }
    waiter.armed = true
    waiter.timer = setTimeout(onWaiterTimeout, timeoutMs, this, waiter)
  }

  /**
   * An order changed: wakes its waiters whose `since` it passes. Synchronous, no I/O. `eventRequestId` is
   * the id of the ingest request that caused the change, logged with each answer it makes.
   */
  notify (order: OrderSnapshot, occurredAt?: string, eventRequestId?: string): void {
    const waiters = this.#index.get(order.orderId)
    if (waiters === undefined) return
    for (const waiter of waiters) {
      if (!waiter.armed) {
        waiter.known = newerOrder(waiter.known, order)
      } else if (order.version > waiter.since) {
        this.answer(waiter, order, 'notified', false, occurredAt, eventRequestId)
      }
    }
  }

  async timeOut (waiter: OrderWaiter): Promise<void> {
    if (waiter.done) return
    waiter.timer = undefined
    let current = waiter.known
    try {
      current = newerOrder(current, await this.#options.readCurrent(waiter.orderId))
    } catch (err) {
      this.#options.log.warn({ err, orderId: waiter.orderId }, 'could not re-read the order on timeout; answering with the last state seen')
    }
    // An event may have answered it during the read.
    if (waiter.done || current === null) return
    this.answer(waiter, current, 'timed_out', true)
  }

  answer (waiter: OrderWaiter, order: OrderSnapshot, outcome: LongPollOutcome | 'shutdown', timedOut: boolean, occurredAt?: string, eventRequestId?: string): void {
    if (waiter.done) return
    this.remove(waiter)
    const { metrics } = this.#options
    if (outcome !== 'shutdown') metrics.longPollOutcomes.inc({ outcome })
    metrics.longPollWait.observe((performance.now() - waiter.startedAt) / 1000)
    if (occurredAt !== undefined) {
      const latency = secondsSince(occurredAt)
      if (latency !== null) metrics.deliveryLatency.observe({ channel: 'longpoll' }, latency)
    }
    if (isFinalPayment(order)) {
      const requests = this.#requestsPerOrder.get(order.orderId)
      if (requests !== undefined) {
        metrics.longPollsPerPayment.observe(requests)
        this.#requestsPerOrder.delete(order.orderId)
      }
    }
    const body: OrderWaitResponse = { success: true, timedOut, ...orderForReader(order, waiter.showCustomer) }
    // One payment end to end: this request's log line names the ingest request whose event answered it.
    waiter.reply.log.debug({ orderId: order.orderId, version: order.version, outcome, eventRequestId }, 'long-poll answered')
    waiter.reply.code(200).send(body)
  }

  /** Drops a waiter from the index (answered, failed, or its client left). Idempotent. */
  remove (waiter: OrderWaiter): void {
    if (waiter.done) return
    waiter.done = true
    waiter.armed = false
    clearTimeout(waiter.timer)
    waiter.timer = undefined
    const raw = waiter.reply.raw as RawWithWaiter
    raw.removeListener('close', onResponseClose)
    delete raw[WAITER]
    const waiters = this.#index.get(waiter.orderId)
    if (waiters?.delete(waiter) === true) {
      this.#size--
      this.#options.metrics.activeWaiters.dec()
      if (waiters.size === 0) this.#index.delete(waiter.orderId)
    }
  }

  /** Graceful shutdown: every held long-poll answers now with the last state seen; new ones answer at once. */
  answerAll (): void {
    this.#closing = true
    for (const waiters of [...this.#index.values()]) {
      for (const waiter of [...waiters]) {
        if (waiter.armed && waiter.known !== null) this.answer(waiter, waiter.known, 'shutdown', true)
      }
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    orderWaiters: OrderWaiters
  }
}

export default fp(async (fastify) => {
  const log = fastify.log.child({ component: 'order-waiters' })
  const waiters = new OrderWaiters({
    metrics: fastify.gatewayMetrics,
    readCurrent: (orderId) => fastify.statusStore.readOrderChecked(orderId),
    log
  })
  fastify.decorate('orderWaiters', waiters)

  // Degraded mode: with Redis down no event arrives, so held long-polls re-check Postgres, in one query.
  let checking = false
  const recheck = setInterval(() => {
    if (checking || waiters.size === 0 || fastify.redis.status === 'ready') return
    checking = true
    fastify.statusStore.readOrdersFromDatabase(waiters.orderIds().slice(0, 1000))
      .then((orders) => { for (const order of orders) waiters.notify(order) })
      .catch((err: unknown) => log.warn({ err }, 'degraded-mode re-check of held long-polls failed'))
      .finally(() => { checking = false })
  }, fastify.config.LONGPOLL_DB_RECHECK_MS)
  recheck.unref()

  fastify.addHook('preClose', async () => {
    clearInterval(recheck)
    waiters.answerAll()
  })
}, { name: 'gateway-order-waiters', dependencies: ['gateway-metrics', 'gateway-status-store'] })
