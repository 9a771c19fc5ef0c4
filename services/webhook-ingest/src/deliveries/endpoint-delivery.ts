// Delivers the committed outbox to one back-end endpoint: one loop per endpoint, so a dead endpoint
// never delays another, and one lease per endpoint, so replicas share the endpoints without double sends.
import type { FastifyBaseLogger } from 'fastify'
import type { BackendEventType, StreamEvent } from '@herald/contracts'
import { backendEventTypeOf, type BackendWebhookSender } from './backend-webhook.js'
import { entityKey, type DeliveryStore, type FailedAttempt, type PassOutcome, type PendingEvent } from './delivery-store.js'
import type { CommittedHorizon } from './horizon.js'
import { isEndpointFailure, nextAttemptDelay, type AttemptResult } from './schedule.js'

export interface BackendEndpoint {
  /** Stable across restarts and replicas: derived from the URL. */
  id: string
  url: string
}

export interface EndpointDeliveryOptions {
  endpoint: BackendEndpoint
  store: DeliveryStore
  horizon: CommittedHorizon
  sender: BackendWebhookSender
  /** This process: the lease holder's name. */
  owner: string
  retryScheduleMs: readonly number[]
  /** Event types sent; others are passed over. */
  eventTypes: ReadonlySet<BackendEventType>
  pollMs: number
  leaseMs: number
  log: FastifyBaseLogger
  batchSize?: number
  /** Entities sent to at the same time; one entity's events always go one after another. */
  concurrency?: number
  onAttempt?: (endpointId: string, result: AttemptResult) => void
  onDeadLetter?: (endpointId: string) => void
}

const MAX_RETRIES_PER_PASS = 200

export class EndpointDelivery {
  readonly endpoint: BackendEndpoint
  readonly #o: EndpointDeliveryOptions
  readonly #batchSize: number
  readonly #concurrency: number
  #running: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #wake: (() => void) | undefined
  #closed = false
  #leased = false

  constructor (options: EndpointDeliveryOptions) {
    this.endpoint = options.endpoint
    this.#o = options
    this.#batchSize = options.batchSize ?? 100
    this.#concurrency = options.concurrency ?? 8
  }

  /** Records the endpoint's cursor; an endpoint seen before keeps its own. */
  async register (): Promise<void> {
    await this.#o.store.register(this.endpoint.id, this.endpoint.url)
  }

  /** Starts the loop; idempotent. */
  async start (): Promise<void> {
    if (this.#running !== undefined || this.#closed) return
    await this.register()
    this.#running = this.#loop()
  }

  async #loop (): Promise<void> {
    let failures = 0
    while (!this.#closed) {
      let more = false
      try {
        more = await this.runPass()
        failures = 0
      } catch (err) {
        // Postgres away, mostly: log the first failure only, back off with a cap.
        if (failures++ === 0) this.#o.log.warn({ err, endpointId: this.endpoint.id }, 'back-end delivery pass failed; retrying')
      }
      if (!more) await this.#sleep(failures > 0 ? Math.min(this.#o.pollMs * 2 ** failures, 10_000) : this.#o.pollMs)
    }
  }

  #sleep (ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve
      this.#timer = setTimeout(resolve, ms)
    }).then(() => {
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#wake = undefined
    })
  }

  /**
   * One pass: take the lease; unless the endpoint is backing off, send its due retries and the events
   * committed after its cursor, each entity in order; then write what happened and the new cursor
   * together. True when there is more to do right away.
   */
  async runPass (): Promise<boolean> {
    const { store, owner, leaseMs } = this.#o
    const lease = await store.claimLease(this.endpoint.id, owner, leaseMs)
    this.#leased = lease !== null
    if (lease === null || (lease.backoffUntil !== null && lease.backoffUntil.getTime() > Date.now())) return false
    // Sends can outlast a lease (15 s each): renew it while the pass runs.
    const heartbeat = setInterval(() => { store.renewLease(this.endpoint.id, owner, leaseMs).catch(() => {}) }, Math.max(50, leaseMs / 3))
    try {
      return await this.#pass(lease.position, lease.consecutiveFailures > 0)
    } finally {
      clearInterval(heartbeat)
    }
  }

  async #pass (position: string, probing: boolean): Promise<boolean> {
    const { store } = this.#o
    const due = await store.dueRetries(this.endpoint.id, MAX_RETRIES_PER_PASS)
    const settled = await this.#o.horizon.settledId()
    const fresh = BigInt(settled) > BigInt(position) ? await store.eventsAfter(position, settled, this.#batchSize) : []
    if (due.length === 0 && fresh.length === 0) return false
    const pass: PassOutcome = {
      position: fresh.length > 0 ? fresh[fresh.length - 1]!.outboxId : null,
      delivered: [],
      retry: [],
      queued: [],
      dead: [],
      successes: 0,
      backoffUntil: null,
      lastError: null
    }
    const chains = new Map<string, PendingEvent[]>()
    for (const event of due) push(chains, event)
    const waiting = await store.entitiesWithRetries(this.endpoint.id, fresh)
    for (const event of fresh) {
      if (!this.#wanted(event)) continue
      const key = entityKey(event.entityType, event.entityId)
      // Behind an earlier event of its entity that this endpoint has not taken: queue it there.
      if (waiting.has(key)) pass.queued.push(event)
      else push(chains, event)
    }
    const ordered = [...chains.values()]
    let stop = false
    if (probing && ordered.length > 0) {
      // The endpoint was down: one attempt first, and the rest only if it is back.
      const [head, ...rest] = ordered[0]!
      const result = await this.#attempt(head!, pass)
      if (result.ok) {
        ordered[0] = rest
      } else {
        this.#leaveUntried(rest, pass)
        ordered.shift()
        stop = isEndpointFailure(result)
      }
    }
    let next = 0
    const worker = async () => {
      while (next < ordered.length) {
        const chain = ordered[next++]!
        if (stop) {
          this.#leaveUntried(chain, pass)
          continue
        }
        if (!await this.#sendChain(chain, pass)) stop = true
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, ordered.length) }, worker))
    if (!await store.commitPass(this.endpoint.id, this.#o.owner, pass)) {
      this.#o.log.warn({ endpointId: this.endpoint.id }, 'lost the delivery lease during a pass; another replica continues')
      return false
    }
    for (let i = 0; i < pass.dead.length; i++) this.#o.onDeadLetter?.(this.endpoint.id)
    return pass.backoffUntil === null && (fresh.length === this.#batchSize || due.length === MAX_RETRIES_PER_PASS)
  }

  #wanted (event: PendingEvent): boolean {
    return event.payload !== null && this.#o.eventTypes.has(backendEventTypeOf(event.payload))
  }

  /**
   * Sends one entity's events in order until one fails; the failed one is scheduled again (or
   * dead-lettered) and the rest wait behind it. False when the endpoint itself failed: the pass stops.
   */
  async #sendChain (chain: PendingEvent[], pass: PassOutcome): Promise<boolean> {
    for (let i = 0; i < chain.length; i++) {
      const result = await this.#attempt(chain[i]!, pass)
      if (result.ok) continue
      this.#leaveUntried(chain.slice(i + 1), pass)
      return !isEndpointFailure(result)
    }
    return true
  }

  /** Sends one event and records the result in the pass. */
  async #attempt (event: PendingEvent, pass: PassOutcome): Promise<AttemptResult> {
    if (event.payload === null) {
      // A retry whose outbox row and copy are both gone: nothing left to send.
      pass.delivered.push(event.outboxId)
      return { ok: true, status: 0 }
    }
    const result = await this.#o.sender.send(this.endpoint.url, event.outboxId, event.payload as StreamEvent, event.attempts + 1)
    this.#o.onAttempt?.(this.endpoint.id, result)
    if (result.ok) {
      pass.successes++
      if (event.fromRetries) pass.delivered.push(event.outboxId)
    } else {
      this.#recordFailure(event, result, pass)
    }
    return result
  }

  #recordFailure (event: PendingEvent, result: Extract<AttemptResult, { ok: false }>, pass: PassOutcome): void {
    const attempts = event.attempts + 1
    const failed: FailedAttempt = { event, attempts, status: result.status, error: result.error }
    pass.lastError = result.error
    const delay = nextAttemptDelay(this.#o.retryScheduleMs, attempts, result.retryAfterMs)
    if (delay === null) {
      this.#o.log.warn({ endpointId: this.endpoint.id, eventId: event.outboxId, attempts, error: result.error }, 'back-end delivery dead-lettered')
      pass.dead.push(failed)
      return
    }
    const nextAttemptAt = new Date(Date.now() + delay)
    pass.retry.push({ ...failed, nextAttemptAt })
    if (isEndpointFailure(result) && (pass.backoffUntil === null || nextAttemptAt < pass.backoffUntil)) pass.backoffUntil = nextAttemptAt
  }

  /** Events of a chain not tried in this pass: fresh ones join the retries queue; retries stay as they are. */
  #leaveUntried (events: PendingEvent[], pass: PassOutcome): void {
    for (const event of events) if (!event.fromRetries) pass.queued.push(event)
  }

  /** Ends the loop after the pass in progress and gives the lease back, so another replica continues at once. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#wake?.()
    await this.#running
    if (this.#leased) await this.#o.store.releaseLease(this.endpoint.id, this.#o.owner).catch(() => {})
  }
}

function push (chains: Map<string, PendingEvent[]>, event: PendingEvent): void {
  const key = entityKey(event.entityType, event.entityId)
  const chain = chains.get(key)
  if (chain === undefined) chains.set(key, [event])
  else chain.push(event)
}
