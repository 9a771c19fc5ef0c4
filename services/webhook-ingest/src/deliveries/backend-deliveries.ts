// All back-end deliveries of one ingest process: a loop per configured endpoint over the shared outbox.
import { randomUUID } from 'node:crypto'
import type { Tracer } from '@opentelemetry/api'
import type pg from 'pg'
import type { FastifyBaseLogger } from 'fastify'
import type { BackendEndpointHealth, BackendEventType } from '@herald/contracts'
import { BackendWebhookSender } from './backend-webhook.js'
import { readBackendEndpointHealth } from '@herald/db'
import { DeliveryReports, DeliveryStore } from './delivery-store.js'
import { EndpointDelivery, type BackendEndpoint } from './endpoint-delivery.js'
import { CommittedHorizon } from './horizon.js'
import type { AttemptResult } from './schedule.js'

export interface BackendDeliveriesOptions {
  pool: pg.Pool
  endpoints: readonly BackendEndpoint[]
  secrets: readonly string[]
  eventTypes: ReadonlySet<BackendEventType>
  retryScheduleMs: readonly number[]
  pollMs: number
  /** How long a replica's claim on an endpoint lasts without renewal (a crashed replica's endpoints move after it). */
  leaseMs?: number
  timeoutMs?: number
  /** Tracing on: each attempt is a client span in the trace of the request that caused the event. */
  tracer?: Tracer
  log: FastifyBaseLogger
  onAttempt?: (endpointId: string, result: AttemptResult) => void
  onDeadLetter?: (endpointId: string) => void
}

export class BackendDeliveries {
  readonly horizon: CommittedHorizon
  readonly reports: DeliveryReports
  readonly endpoints: readonly BackendEndpoint[]
  readonly #deliveries: EndpointDelivery[]
  readonly #pool: pg.Pool
  #closed = false

  constructor (options: BackendDeliveriesOptions) {
    this.horizon = new CommittedHorizon(options.pool)
    this.reports = new DeliveryReports(options.pool)
    this.endpoints = options.endpoints
    this.#pool = options.pool
    const store = new DeliveryStore(options.pool)
    const sender = options.endpoints.length > 0 ? new BackendWebhookSender(options.secrets, options.timeoutMs, options.tracer) : undefined
    const owner = `ingest-${randomUUID()}`
    this.#deliveries = options.endpoints.map((endpoint) => new EndpointDelivery({
      endpoint,
      store,
      horizon: this.horizon,
      sender: sender!,
      owner,
      retryScheduleMs: options.retryScheduleMs,
      eventTypes: options.eventTypes,
      pollMs: options.pollMs,
      leaseMs: options.leaseMs ?? 30_000,
      log: options.log,
      onAttempt: options.onAttempt,
      onDeadLetter: options.onDeadLetter
    }))
  }

  /**
   * Records every configured endpoint's cursor (a new one starts at the end of the outbox). Done at
   * start-up, before any request is answered, so an event committed by this process is never before it.
   */
  async register (): Promise<void> {
    await Promise.all(this.#deliveries.map((delivery) => delivery.register()))
  }

  async start (): Promise<void> {
    if (this.#closed) return
    await Promise.all(this.#deliveries.map((delivery) => delivery.start()))
  }

  /** Health of every configured endpoint, for the admin API and the metrics. */
  async health (): Promise<BackendEndpointHealth[]> {
    return readBackendEndpointHealth(this.#pool, { endpointIds: this.endpoints.map((e) => e.id) })
  }

  /** Stops every loop after its pass in progress and gives the leases back; idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    await Promise.all(this.#deliveries.map((delivery) => delivery.close()))
  }
}
