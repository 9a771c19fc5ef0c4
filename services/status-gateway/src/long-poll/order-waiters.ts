// Held long-polls, indexed by order: the stream consumer wakes exactly the waiters of the order that changed.
import type { FastifyBaseLogger, FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { SpanContext } from '@opentelemetry/api'
import type { OrderSnapshot, OrderWaitResponse, StreamEvent } from '@herald/contracts'
import { NotFoundError } from '@herald/service-kit'
import { isFinalPayment, newerOrder, orderForReader } from '../orders/order-view.js'
import { secondsSince, type GatewayMetrics, type LongPollOutcome } from '../plugins/app/gateway-metrics.js'
import type { DeliveredEvent, DeliverySpans } from '../activity/delivery-spans.js'
import { Deadlines, type Expiring } from './deadlines.js'

const WAITER = Symbol('herald.orderWaiter')
type RawWithWaiter = ServerResponse & { [WAITER]?: OrderWaiter }

/** Orders whose long-poll requests are counted until they answer a final status; bounded. */
const MAX_COUNTED_ORDERS = 50_000

/**
 * One held long-poll, seen only by OrderWaiters. Small on purpose: no closures and no timer of its own;
 * the deadline sweep and the 'close' listener are shared and find the waiter (on the response).
 */
class OrderWaiter implements Expiring {
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
  deadline = 0
  deadlineSlot = -1
  /** The long-poll request's span (tracing on): the delivery span links to it. */
  readonly waiting: SpanContext | undefined

  constructor (owner: OrderWaiters, orderId: string, reply: FastifyReply, showCustomer: boolean, waiting: SpanContext | undefined) {
    this.owner = owner
    this.orderId = orderId
    this.reply = reply
    this.showCustomer = showCustomer
    this.waiting = waiting
  }
}

/** The stream event behind a notification: when it happened, and the request (and trace) that caused it. */
export type OrderChange = DeliveredEvent & Pick<StreamEvent, 'occurredAt'>

export interface WaitRequest {
  orderId: string
  reply: FastifyReply
  showCustomer: boolean
  /** Answer once the version passes this; by default the version read now (wait for the next change). */
  since: number | undefined
  timeoutMs: number
  /** The order's current state (Redis snapshot, else Postgres). */
  read: () => Promise<OrderSnapshot | null>
}

export interface OrderWaitersOptions {
  metrics: GatewayMetrics
  /** The current state on timeout: the Redis snapshot checked against Postgres. */
  readCurrent: (orderId: string) => Promise<OrderSnapshot | null>
  spans: DeliverySpans
  log: FastifyBaseLogger
}

export class OrderWaiters {
  readonly #index = new Map<string, Set<OrderWaiter>>()
  readonly #requestsPerOrder = new Map<string, number>()
  readonly #options: OrderWaitersOptions
  readonly #deadlines = new Deadlines<OrderWaiter>(OrderWaiters.#onTimeout)
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
   * The long-poll protocol. The waiter is indexed before the state is read, so an event landing during
   * the read is remembered, not lost. Answers at once when the payment is final or newer than `since`,
   * else holds until an event passes `since` or `timeoutMs` ends; 404 for an unknown order.
   */
  async wait ({ orderId, reply, showCustomer, since, timeoutMs, read }: WaitRequest): Promise<void> {
    const waiter = this.#register(orderId, reply, showCustomer)
    let current: OrderSnapshot | null
    try {
      current = newerOrder(await read(), waiter.known)
    } catch (err) {
      this.#remove(waiter)
      throw err
    }
    if (waiter.done) return // the client left during the read
    if (current === null) {
      this.#remove(waiter)
      throw new NotFoundError(`Order ${orderId} not found`)
    }
    this.#countRequest(orderId, isFinalPayment(current))
    const after = since ?? current.version
    if (isFinalPayment(current) || current.version > after) {
      this.#answer(waiter, current, 'immediate', false)
    } else {
      this.#arm(waiter, after, timeoutMs, current)
    }
  }

  /**
   * An order changed: wakes its waiters whose `since` it passes. Synchronous, no I/O. `change` is the
   * stream event that said so (none: a re-read of Postgres): its latency is measured, and its cause is
   * named in each answer's log line and delivery span.
   */
  notify (order: OrderSnapshot, change?: OrderChange): void {
    const waiters = this.#index.get(order.orderId)
    if (waiters === undefined) return
    for (const waiter of waiters) {
      if (!waiter.armed) {
        waiter.known = newerOrder(waiter.known, order)
      } else if (order.version > waiter.since) {
        this.#answer(waiter, order, 'notified', false, change)
      }
    }
  }

  /** Graceful shutdown: every held long-poll answers now with the last state seen; new ones answer at once. */
  answerAll (): void {
    this.#closing = true
    for (const waiters of [...this.#index.values()]) {
      for (const waiter of [...waiters]) {
        if (waiter.armed && waiter.known !== null) this.#answer(waiter, waiter.known, 'shutdown', true)
      }
    }
  }

  static #onResponseClose (this: RawWithWaiter): void {
    const waiter = this[WAITER]
    if (waiter !== undefined) waiter.owner.#remove(waiter)
  }

  static #onTimeout (waiter: OrderWaiter): void {
    waiter.owner.#timeOut(waiter).catch(() => {})
  }

  #register (orderId: string, reply: FastifyReply, showCustomer: boolean): OrderWaiter {
    const waiter = new OrderWaiter(this, orderId, reply, showCustomer, this.#options.spans.waitingRequest())
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
    // 'on', not 'once': a response closes once, and 'once' would wrap the shared listener per waiter.
    raw.on('close', OrderWaiters.#onResponseClose)
    return waiter
  }

  /** Counts a long-poll request toward requests-per-payment; one that finds a final order uncounted is skipped. */
  #countRequest (orderId: string, finalAtStart: boolean): void {
    const count = this.#requestsPerOrder.get(orderId)
    if (count === undefined && finalAtStart) return
    if (count === undefined && this.#requestsPerOrder.size >= MAX_COUNTED_ORDERS) {
      const oldest = this.#requestsPerOrder.keys().next().value
      if (oldest !== undefined) this.#requestsPerOrder.delete(oldest)
    }
    this.#requestsPerOrder.set(orderId, (count ?? 0) + 1)
  }

  #arm (waiter: OrderWaiter, since: number, timeoutMs: number, current: OrderSnapshot): void {
    waiter.since = since
    waiter.known = newerOrder(waiter.known, current)
    if (this.#closing) {
      this.#answer(waiter, waiter.known!, 'timed_out', true)
      return
    }
    waiter.armed = true
    this.#deadlines.add(waiter, timeoutMs)
  }

  async #timeOut (waiter: OrderWaiter): Promise<void> {
    if (waiter.done) return
    let current = waiter.known
    try {
      current = newerOrder(current, await this.#options.readCurrent(waiter.orderId))
    } catch (err) {
      this.#options.log.warn({ err, orderId: waiter.orderId }, 'could not re-read the order on timeout; answering with the last state seen')
    }
    // An event may have answered it during the read.
    if (waiter.done || current === null) return
    this.#answer(waiter, current, 'timed_out', true)
  }

  #answer (waiter: OrderWaiter, order: OrderSnapshot, outcome: LongPollOutcome | 'shutdown', timedOut: boolean, change?: OrderChange): void {
    if (waiter.done) return
    this.#remove(waiter)
    const { metrics } = this.#options
    if (outcome !== 'shutdown') metrics.longPollOutcomes.inc({ outcome })
    metrics.longPollWait.observe((performance.now() - waiter.startedAt) / 1000)
    if (change !== undefined) {
      const latency = secondsSince(change.occurredAt)
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
    waiter.reply.log.debug({ orderId: order.orderId, version: order.version, outcome, eventRequestId: change?.requestId }, 'long-poll answered')
    waiter.reply.code(200).send(body)
    if (change !== undefined) this.#options.spans.record('longpoll', change, waiter.waiting)
  }

  /** Drops a waiter from the index (answered, failed, or its client left). Idempotent. */
  #remove (waiter: OrderWaiter): void {
    if (waiter.done) return
    waiter.done = true
    waiter.armed = false
    this.#deadlines.delete(waiter)
    const raw = waiter.reply.raw as RawWithWaiter
    raw.removeListener('close', OrderWaiters.#onResponseClose)
    raw[WAITER] = undefined
    const waiters = this.#index.get(waiter.orderId)
    if (waiters?.delete(waiter) === true) {
      this.#size--
      this.#options.metrics.activeWaiters.dec()
      if (waiters.size === 0) this.#index.delete(waiter.orderId)
    }
  }
}
