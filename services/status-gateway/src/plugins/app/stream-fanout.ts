// Open SSE streams, indexed by what they follow; events are written without ever waiting on a client.
import fp from 'fastify-plugin'
import type { FastifyBaseLogger, FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'
import { registrationUpdateOf, type OrderSnapshot, type RegistrationSnapshot, type ResetReason, type StreamEvent } from '@herald/contracts'
import type { HistoryRead } from '@herald/streams'
import { orderForReader } from './status-store.js'
import { secondsSince, type GatewayMetrics } from './gateway-metrics.js'

/**
 * What one stream follows. Per-entity feeds carry `id: <version>`; the admin feeds (every registration,
 * every order) `id: <entityId>:<version>`.
 */
export type SseFeed =
  | { kind: 'order', entityId: string, showCustomer: boolean }
  | { kind: 'registration', entityId: string }
  | { kind: 'registrations' }
  | { kind: 'orders' }

/** The admin feeds mix many entities: no per-client cursor to replay from, no per-entity version order. */
function isAdminFeed (feed: SseFeed): feed is { kind: 'registrations' } | { kind: 'orders' } {
  return feed.kind === 'registrations' || feed.kind === 'orders'
}

/** Where a per-entity stream replays from and what a reset shows. */
export interface FeedSource {
  history (afterVersion: number): Promise<HistoryRead>
  snapshot (): Promise<OrderSnapshot | RegistrationSnapshot | null>
}

/** Live events held while a stream replays; past this the client is too far behind and is cut off. */
const MAX_PENDING_EVENTS = 10_000
/** Only ids Herald built go on an `id:` line: entity ids are validated, versions are integers. */
const SAFE_ID = /^[A-Za-z0-9_.:-]{1,160}$/
const VERSION_ID = /^(?:0|[1-9][0-9]{0,9})$/

function feedKey (feed: SseFeed): string {
  return isAdminFeed(feed) ? feed.kind : `${feed.kind}:${feed.entityId}`
}

export function frame (data: unknown, id?: string, retryMs?: number): string {
  let text = ''
  if (id !== undefined && SAFE_ID.test(id)) text += `id: ${id}\n`
  if (retryMs !== undefined) text += `retry: ${Math.max(0, Math.trunc(retryMs))}\n`
  // JSON.stringify escapes CR and LF inside strings: the payload is always exactly one data line.
  return `${text}data: ${JSON.stringify(data)}\n\n`
}

/** The update frame of an event for one feed; cached per event while it fans out. */
class EventFrames {
  readonly event: StreamEvent
  #withCustomer: string | undefined
  #withoutCustomer: string | undefined
  #entity: string | undefined
  #adminFeed: string | undefined

  constructor (event: StreamEvent) {
    this.event = event
  }

  for (feed: SseFeed): string {
    const event = this.event
    if (event.entityType === 'order') {
      const timestamp = Date.parse(event.occurredAt)
      // The admin feed is read with the admin token: customer details included.
      if (feed.kind === 'orders') return (this.#adminFeed ??= frame({ type: 'update', data: event.order, timestamp }, `${event.entityId}:${event.version}`))
      if (feed.kind !== 'order') return ''
      if (feed.showCustomer) return (this.#withCustomer ??= frame({ type: 'update', data: event.order, timestamp }, String(event.version)))
      return (this.#withoutCustomer ??= frame({ type: 'update', data: orderForReader(event.order, false), timestamp }, String(event.version)))
    }
    if (feed.kind === 'registrations') return (this.#adminFeed ??= frame(this.#registrationUpdate(), `${event.entityId}:${event.version}`))
    if (feed.kind !== 'registration') return ''
    return (this.#entity ??= frame(this.#registrationUpdate(), String(event.version)))
  }

  /** The old design's update message: PENDING stages and the verdict, epoch-ms timestamps. */
  #registrationUpdate (): unknown {
    const data = registrationUpdateOf((this.event as Extract<StreamEvent, { entityType: 'registration' }>).update)
    return { type: 'update', data, timestamp: data.timestamp }
  }
}

export class SseClient {
  readonly feed: SseFeed
  readonly key: string
  readonly raw: ServerResponse
  readonly owner: StreamFanout
  readonly #source: FeedSource | null
  readonly #log: FastifyBaseLogger
  /** Highest version written (per-entity feeds): anything at or below it is a duplicate. */
  lastVersion = 0
  /** Live events held during replay; null once live. */
  #pending: StreamEvent[] | null = []
  #closed = false

  constructor (owner: StreamFanout, raw: ServerResponse, feed: SseFeed, source: FeedSource | null, log: FastifyBaseLogger) {
    this.owner = owner
    this.raw = raw
    this.feed = feed
    this.key = feedKey(feed)
    this.#source = source
    this.#log = log
  }

  get closed (): boolean {
    return this.#closed
  }

  /**
   * Writes `text` unless the client already has more than the cap unsent: then it is cut off (it
   * reconnects with its last id and resumes) instead of growing this process's memory.
   */
  write (text: string): boolean {
    if (this.#closed || this.raw.destroyed) return false
    if (this.raw.writableLength + text.length > this.owner.maxBufferBytes) {
      this.#cutOff()
      return false
    }
    this.raw.write(text)
    return true
  }

  #cutOff (): void {
    this.#log.info({ feed: this.key, buffered: this.raw.writableLength }, 'SSE client cannot keep up; disconnecting it')
    this.owner.metrics.slowClientDisconnects.inc()
    this.#closed = true
    this.raw.destroy()
    this.owner.remove(this)
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
      if (event.version <= this.lastVersion) return
      if (this.lastVersion > 0 && event.version > this.lastVersion + 1) {
        // Something between was not delivered to this replica (a group re-created late): fill from history.
        this.#pending = [event]
        this.replayFrom(this.lastVersion).catch(() => {})
        return
      }
    }
    this.#deliver(event, frames ?? new EventFrames(event))
  }

  #deliver (event: StreamEvent, frames: EventFrames): void {
    if (!this.write(frames.for(this.feed))) return
    if (event.version > this.lastVersion) this.lastVersion = event.version
    this.#log.debug({ entityType: event.entityType, entityId: event.entityId, version: event.version, eventRequestId: event.requestId }, 'SSE update written')
    const latency = secondsSince(event.occurredAt)
    if (latency !== null) this.owner.metrics.deliveryLatency.observe({ channel: 'sse' }, latency)
  }

  /** Writes the live events held during replay that are newer than what was sent, and goes live. */
  goLive (): void {
    const pending = this.#pending
    this.#pending = null
    if (pending === null) return
    for (const event of pending) this.offer(event)
  }

  /**
   * Replays what the client missed after `lastEventId` (header or query), then goes live: exactly the
   * missed events of this entity in order, or a `reset` with the current state when that is impossible.
   */
  async resume (lastEventId: string | undefined): Promise<void> {
    try {
      await this.#resume(lastEventId)
    } catch (err) {
      this.#log.warn({ err, feed: this.key }, 'SSE replay failed; closing the stream with a retry hint')
      this.close('replay_failed')
    }
  }

  async #resume (lastEventId: string | undefined): Promise<void> {
    if (lastEventId === undefined) {
      this.goLive()
      return
    }
    if (isAdminFeed(this.feed)) {
      // An admin feed mixes every entity of its kind: it keeps no per-client cursor to replay from.
      const wellFormed = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}:(?:0|[1-9][0-9]{0,9})$/.test(lastEventId)
      this.#reset(wellFormed ? 'retention' : 'malformed_id', null)
      this.goLive()
      return
    }
    if (!VERSION_ID.test(lastEventId)) {
      await this.#resetToSnapshot('malformed_id')
      return
    }
    await this.replayFrom(Number(lastEventId))
  }

  async replayFrom (afterVersion: number): Promise<void> {
    const source = this.#source!
    try {
      const history = await source.history(afterVersion)
      if (this.#closed) return
      if (afterVersion > history.latestVersion) {
        await this.#resetToSnapshot('unknown_id')
        return
      }
      if (!history.complete) {
        await this.#resetToSnapshot('retention')
        return
      }
      this.lastVersion = Math.max(this.lastVersion, afterVersion)
      for (const event of history.events) {
        if (event.version > this.lastVersion) this.#deliver(event, new EventFrames(event))
      }
      this.goLive()
    } catch (err) {
      this.#log.warn({ err, feed: this.key }, 'SSE replay failed; closing the stream with a retry hint')
      this.close('replay_failed')
    }
  }

  async #resetToSnapshot (reason: ResetReason): Promise<void> {
    const snapshot = await this.#source!.snapshot()
    if (this.#closed) return
    this.#reset(reason, snapshot)
    this.lastVersion = snapshot?.version ?? 0
    this.goLive()
  }

  #reset (reason: ResetReason, snapshot: OrderSnapshot | RegistrationSnapshot | null): void {
    let data: OrderSnapshot | RegistrationSnapshot | null = snapshot
    if (this.feed.kind === 'order' && snapshot !== null) data = orderForReader(snapshot as OrderSnapshot, this.feed.showCustomer)
    this.write(frame({ type: 'reset', reason, data, timestamp: Date.now() }))
  }

  /** Ends the stream with a `closing` message and a `retry:` hint. Idempotent. */
  close (reason: string): void {
    if (this.#closed) return
    const retryMs = this.owner.retryMs
    this.write(frame({ type: 'closing', reason, retryMs, timestamp: Date.now() }, undefined, retryMs))
    this.#closed = true
    this.raw.end()
    this.owner.remove(this)
  }

  /** The client went away. */
  detach (): void {
    this.#closed = true
    this.owner.remove(this)
  }
}

const CLIENT = Symbol('herald.sseClient')
type RawWithClient = ServerResponse & { [CLIENT]?: SseClient }

function onStreamClose (this: RawWithClient): void {
  this[CLIENT]?.detach()
}

export interface StreamFanoutOptions {
  metrics: GatewayMetrics
  pingIntervalMs: number
  maxBufferBytes: number
  retryMs: number
  log: FastifyBaseLogger
}

export class StreamFanout {
  readonly metrics: GatewayMetrics
  readonly maxBufferBytes: number
  readonly retryMs: number
  readonly #index = new Map<string, Set<SseClient>>()
  readonly #log: FastifyBaseLogger
  readonly #ping: NodeJS.Timeout
  #size = 0

  constructor (options: StreamFanoutOptions) {
    this.metrics = options.metrics
    this.maxBufferBytes = options.maxBufferBytes
    this.retryMs = options.retryMs
    this.#log = options.log
    // One timer pings every stream: no per-client timers.
    this.#ping = setInterval(() => this.#pingAll(), options.pingIntervalMs)
    this.#ping.unref()
  }

  get size (): number {
    return this.#size
  }

  /**
   * Takes over the response (hijacked: Fastify no longer writes to it), sends the SSE headers and the
   * `connected` message, and indexes the client; it buffers live events until `resume` is done.
   */
  open (reply: FastifyReply, feed: SseFeed, source: FeedSource | null): SseClient {
    reply.hijack()
    const raw = reply.raw as RawWithClient
    // Headers set by hooks (CORS, request id) are on the reply, not yet on the raw response.
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) raw.setHeader(name, value)
    }
    raw.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive'
    })
    raw.socket?.setNoDelay(true)
    const client = new SseClient(this, raw, feed, source, reply.log)
    raw[CLIENT] = client
    raw.once('close', onStreamClose)
    let clients = this.#index.get(client.key)
    if (clients === undefined) {
      clients = new Set()
      this.#index.set(client.key, clients)
    }
    clients.add(client)
    this.#size++
    this.metrics.activeSseStreams.inc()
    client.write(frame({ type: 'connected', timestamp: Date.now() }))
    return client
  }

  remove (client: SseClient): void {
    const clients = this.#index.get(client.key)
    if (clients?.delete(client) !== true) return
    this.#size--
    this.metrics.activeSseStreams.dec()
    if (clients.size === 0) this.#index.delete(client.key)
    const raw = client.raw as RawWithClient
    raw.removeListener('close', onStreamClose)
    delete raw[CLIENT]
  }

  /** An event from the consumer: written to every stream that follows its entity. Synchronous. */
  publish (event: StreamEvent): void {
    const frames = new EventFrames(event)
    const clients = this.#index.get(`${event.entityType}:${event.entityId}`)
    if (clients !== undefined) for (const client of clients) client.offer(event, frames)
    const all = this.#index.get(event.entityType === 'order' ? 'orders' : 'registrations')
    if (all !== undefined) for (const client of all) client.offer(event, frames)
  }

  /** Ends every stream with a `closing` message and a retry hint (shutdown, Redis lost). */
  closeAll (reason: string): void {
    if (this.#size === 0) return
    this.#log.info({ streams: this.#size, reason }, 'ending SSE streams')
    for (const clients of [...this.#index.values()]) {
      for (const client of [...clients]) client.close(reason)
    }
  }

  stop (): void {
    clearInterval(this.#ping)
  }

  #pingAll (): void {
    if (this.#size === 0) return
    const ping = frame({ type: 'ping', timestamp: Date.now() })
    for (const clients of [...this.#index.values()]) {
      for (const client of [...clients]) client.write(ping)
    }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    streamFanout: StreamFanout
  }
}

/** With Redis gone this long, open streams are ended so clients go to a replica that can serve them. */
const REDIS_LOSS_GRACE_MS = 1000

export default fp(async (fastify) => {
  const { config } = fastify
  const log = fastify.log.child({ component: 'stream-fanout' })
  const fanout = new StreamFanout({
    metrics: fastify.gatewayMetrics,
    pingIntervalMs: config.SSE_PING_INTERVAL_MS,
    maxBufferBytes: config.SSE_MAX_BUFFER_BYTES,
    retryMs: config.SSE_RETRY_MS,
    log
  })
  fastify.decorate('streamFanout', fanout)

  // A blip (one reconnect) keeps the streams; a real outage ends them with a retry hint.
  let lossTimer: NodeJS.Timeout | undefined
  const onRedisClose = () => {
    if (lossTimer !== undefined) return
    lossTimer = setTimeout(() => {
      lossTimer = undefined
      if (fastify.redis.status !== 'ready') fanout.closeAll('redis_unavailable')
    }, REDIS_LOSS_GRACE_MS)
    lossTimer.unref()
  }
  fastify.redis.on('close', onRedisClose)

  fastify.addHook('preClose', async () => {
    fastify.redis.off('close', onRedisClose)
    clearTimeout(lossTimer)
    fanout.stop()
    fanout.closeAll('shutdown')
  })
}, { name: 'gateway-stream-fanout', dependencies: ['gateway-metrics', 'herald-redis'] })
