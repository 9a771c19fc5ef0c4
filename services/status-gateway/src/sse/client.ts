// One SSE stream: bounded writes (a slow client is cut off, never waited on), replay, then live events.
import type { FastifyBaseLogger } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { SpanContext } from '@opentelemetry/api'
import type { OrderSnapshot, RegistrationSnapshot, ResetReason, StreamEvent } from '@herald/contracts'
import type { HistoryRead } from '@herald/streams'
import { orderForReader } from '../orders/order-view.js'
import { secondsSince, type GatewayMetrics } from '../plugins/app/gateway-metrics.js'
import type { DeliverySpans } from '../activity/delivery-spans.js'
import { EventFrames, feedKey, frame, isAdminFeed, type SseFeed } from './frames.js'

/** Where a per-entity stream replays from and what a reset shows. */
export interface FeedSource {
  history (afterVersion: number): Promise<HistoryRead>
  snapshot (): Promise<OrderSnapshot | RegistrationSnapshot | null>
}

/** What every stream of one fan-out shares: one object, not a copy per client. */
export interface SseClientSettings {
  /** Unsent bytes a client may hold before it is cut off. */
  maxBufferBytes: number
  /** The `retry:` hint of a `closing` message. */
  retryMs: number
  metrics: Pick<GatewayMetrics, 'slowClientDisconnects' | 'deliveryLatency'>
  spans: DeliverySpans
  /** Called once when the stream ends, whoever ends it. */
  onEnd: (client: SseClient) => void
}

/** Live events held while a stream replays; past this the client is too far behind and is cut off. */
const MAX_PENDING_EVENTS = 10_000
/**
 * How long a stream behind Postgres, on an entity Redis knows nothing of, waits for the events to come live
 * (a publish in flight after its commit, or the ingest's reconciler republishing) before it resets.
 */
const UNPUBLISHED_GRACE_MS = 5000
const VERSION_ID = /^(?:0|[1-9][0-9]{0,9})$/
const ADMIN_FEED_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}:(?:0|[1-9][0-9]{0,9})$/

const CLIENT = Symbol('herald.sseClient')
type RawWithClient = ServerResponse & { [CLIENT]?: SseClient }

function onStreamClose (this: RawWithClient): void {
  this[CLIENT]?.detach()
}

export class SseClient {
  readonly feed: SseFeed
  readonly key: string
  readonly #raw: RawWithClient
  readonly #settings: SseClientSettings
  readonly #source: FeedSource | null
  readonly #log: FastifyBaseLogger
  /** Highest version written (per-entity feeds): anything at or below it is a duplicate. */
  #lastVersion = 0
  /** Live events held during replay; null once live. */
  #pending: StreamEvent[] | null = []
  #closed = false
  #graceTimer: NodeJS.Timeout | undefined
  /** The SSE request's span (tracing on): each update's delivery span links to it. */
  readonly #waiting: SpanContext | undefined

  constructor (raw: ServerResponse, feed: SseFeed, source: FeedSource | null, settings: SseClientSettings, log: FastifyBaseLogger) {
    this.#raw = raw as RawWithClient
    this.feed = feed
    this.key = feedKey(feed)
    this.#source = source
    this.#settings = settings
    this.#log = log
    this.#waiting = settings.spans.waitingRequest()
    this.#raw[CLIENT] = this
    this.#raw.once('close', onStreamClose)
  }

  get closed (): boolean {
    return this.#closed
  }

  /**
   * Writes `text` unless the client already has more than the cap unsent: then it is cut off (it
   * reconnects with its last id and resumes) instead of growing this process's memory.
   */
  write (text: string): boolean {
    const raw = this.#raw
    if (this.#closed || raw.destroyed) return false
    if (raw.writableLength + text.length > this.#settings.maxBufferBytes) {
      this.#cutOff()
      return false
    }
    raw.write(text)
    return true
  }

  /** An event for this feed, from the consumer. Never waits. */
  offer (event: StreamEvent, frames?: EventFrames): void {
    if (this.#closed) return
    if (this.#pending !== null) {
      if (this.#pending.length >= MAX_PENDING_EVENTS) {
        this.#cutOff()
        return
      }
      this.#pending.push(event)
      return
    }
    if (!isAdminFeed(this.feed)) {
      if (event.version <= this.#lastVersion) return
      if (this.#lastVersion > 0 && event.version > this.#lastVersion + 1) {
        // Something between was not delivered to this replica (a group re-created late): fill from history.
        this.#pending = [event]
        this.#replayOrClose(this.#replayFrom(this.#lastVersion))
        return
      }
    }
    this.#deliver(event, frames ?? new EventFrames(event))
  }

  /**
   * Replays what the client missed after `lastEventId` (header or query), then goes live: exactly the
   * missed events of this entity in order, or a `reset` with the current state when that is impossible.
   */
  async resume (lastEventId: string | undefined): Promise<void> {
    await this.#replayOrClose(this.#resume(lastEventId))
  }

  /** Ends the stream with a `closing` message and a `retry:` hint. Idempotent. */
  close (reason: string): void {
    if (this.#closed) return
    const retryMs = this.#settings.retryMs
    this.write(frame({ type: 'closing', reason, retryMs, timestamp: Date.now() }, undefined, retryMs))
    this.#end()
    this.#raw.end()
  }

  /** The client went away. */
  detach (): void {
    this.#end()
  }

  /** Marks the stream ended and lets the owner drop it; safe to call more than once. */
  #end (): void {
    this.#closed = true
    clearTimeout(this.#graceTimer)
    this.#raw.removeListener('close', onStreamClose)
    delete this.#raw[CLIENT]
    this.#settings.onEnd(this)
  }

  #cutOff (): void {
    this.#log.info({ feed: this.key, buffered: this.#raw.writableLength }, 'SSE client cannot keep up; disconnecting it')
    this.#settings.metrics.slowClientDisconnects.inc()
    this.#end()
    this.#raw.destroy()
  }

  #deliver (event: StreamEvent, frames: EventFrames): void {
    if (!this.write(frames.for(this.feed))) return
    this.#log.debug({ entityType: event.entityType, entityId: event.entityId, version: event.version, eventRequestId: event.requestId }, 'SSE update written')
    if (event.version > this.#lastVersion) this.#lastVersion = event.version
    const latency = secondsSince(event.occurredAt)
    if (latency !== null) this.#settings.metrics.deliveryLatency.observe({ channel: 'sse' }, latency)
    this.#settings.spans.record('sse', event, this.#waiting)
  }

  /** Writes the live events held during replay that are newer than what was sent, and goes live. */
  #goLive (): void {
    const pending = this.#pending
    this.#pending = null
    if (pending === null) return
    for (const event of pending) this.offer(event)
  }

  /** The one place a failed replay is handled: the stream closes with a retry hint and the client resumes. */
  async #replayOrClose (replay: Promise<void>): Promise<void> {
    try {
      await replay
    } catch (err) {
      this.#log.warn({ err, feed: this.key }, 'SSE replay failed; closing the stream with a retry hint')
      this.close('replay_failed')
    }
  }

  async #resume (lastEventId: string | undefined): Promise<void> {
    if (lastEventId === undefined) {
      this.#goLive()
      return
    }
    if (isAdminFeed(this.feed)) {
      // An admin feed mixes every entity of its kind: it keeps no per-client cursor to replay from.
      this.#reset(ADMIN_FEED_ID.test(lastEventId) ? 'retention' : 'malformed_id', null)
      this.#goLive()
      return
    }
    if (!VERSION_ID.test(lastEventId)) {
      await this.#resetToSnapshot('malformed_id')
      return
    }
    await this.#replayFrom(Number(lastEventId))
  }

  async #replayFrom (afterVersion: number): Promise<void> {
    const history = await this.#source!.history(afterVersion)
    if (this.#closed) return
    if (history.latestVersion === 0 && history.events.length === 0 && await this.#behindDatabase(afterVersion)) return
    if (afterVersion > history.latestVersion) {
      await this.#resetToSnapshot('unknown_id')
      return
    }
    if (!history.complete) {
      await this.#resetToSnapshot('retention')
      return
    }
    this.#lastVersion = Math.max(this.#lastVersion, afterVersion)
    for (const event of history.events) {
      if (event.version > this.#lastVersion) this.#deliver(event, new EventFrames(event))
    }
    this.#goLive()
  }

  /**
   * Redis knows nothing of this entity: not published yet (a page subscribing right after its first write),
   * or lost (Redis restarted empty, a failover). "Nothing newer" is not concluded from that: the current
   * state (Postgres, as Redis has no snapshot) decides. A client at it goes live; a client behind it goes
   * live too, and if the missing versions have not come live within UNPUBLISHED_GRACE_MS it catches up from
   * Redis's history or gets a `reset` with the current state. True when handled here. A failed read keeps
   * the stream (events still come live).
   */
  async #behindDatabase (afterVersion: number): Promise<boolean> {
    let snapshot: OrderSnapshot | RegistrationSnapshot | null
    try {
      snapshot = await this.#source!.snapshot()
    } catch (err) {
      this.#log.debug({ err, feed: this.key }, 'no Redis history and the current state could not be read; going live')
      return false
    }
    if (this.#closed) return true
    // Unknown here too, or older than the client's id: the caller's `unknown_id` path answers.
    if (snapshot === null || snapshot.version < afterVersion) return false
    this.#lastVersion = afterVersion
    if (snapshot.version > afterVersion) {
      const version = snapshot.version
      this.#graceTimer = setTimeout(() => this.#catchUpTo(version), UNPUBLISHED_GRACE_MS)
      this.#graceTimer.unref()
    }
    this.#goLive()
    return true
  }

  /** The grace is over: still behind `version`, the stream replays what Redis has now, or resets. */
  #catchUpTo (version: number): void {
    this.#graceTimer = undefined
    // Caught up live meanwhile, or a replay (a gap being filled) is already reading the history.
    if (this.#closed || this.#lastVersion >= version || this.#pending !== null) return
    this.#pending = []
    this.#replayOrClose((async () => {
      const history = await this.#source!.history(this.#lastVersion)
      if (this.#closed) return
      if (history.latestVersion === 0 && history.events.length === 0) await this.#resetToSnapshot('retention')
      else await this.#replayFrom(this.#lastVersion)
    })()).catch(() => {})
  }

  async #resetToSnapshot (reason: ResetReason): Promise<void> {
    const snapshot = await this.#source!.snapshot()
    if (this.#closed) return
    this.#reset(reason, snapshot)
    this.#lastVersion = snapshot?.version ?? 0
    this.#goLive()
  }

  #reset (reason: ResetReason, snapshot: OrderSnapshot | RegistrationSnapshot | null): void {
    let data: OrderSnapshot | RegistrationSnapshot | null = snapshot
    if (this.feed.kind === 'order' && snapshot !== null) data = orderForReader(snapshot as OrderSnapshot, this.feed.showCustomer)
    this.write(frame({ type: 'reset', reason, data, timestamp: Date.now() }))
  }
}
