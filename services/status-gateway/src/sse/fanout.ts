// Open SSE streams, indexed by what they follow, with one shared ping; events are written without ever waiting on a client.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { NotFoundError, UnavailableError } from '@herald/service-kit'
import type { StreamEvent } from '@herald/contracts'
import type { GatewayMetrics } from '../plugins/app/gateway-metrics.js'
import type { DeliverySpans } from '../activity/delivery-spans.js'
import { EventFrames, frame, type SseFeed } from './frames.js'
import { SseClient, type FeedSource, type SseClientSettings } from './client.js'

/** A per-entity source; `notFound` set: the stream is refused with 404 while the entity has no state. */
export interface OpenSource extends FeedSource {
  notFound?: string
}

export interface StreamFanoutOptions {
  metrics: GatewayMetrics
  spans: DeliverySpans
  pingIntervalMs: number
  maxBufferBytes: number
  retryMs: number
  /** False while Redis cannot deliver events: new streams are refused with 503. */
  redisReady: () => boolean
  /** Takes the request's hold slots (or throws 429) once the stream is sure to open. */
  holdSlots: (request: FastifyRequest, reply: FastifyReply) => void
  log: FastifyBaseLogger
}

/** The header wins: a browser reconnecting sends it, while `?lastEventId=` stays what the first connect used. */
export function lastEventIdOf (header: string | string[] | undefined, query: string | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value !== undefined && value !== '') return value.trim()
  return query === '' ? undefined : query
}

export class StreamFanout {
  readonly #index = new Map<string, Set<SseClient>>()
  readonly #options: StreamFanoutOptions
  readonly #clientSettings: SseClientSettings
  readonly #log: FastifyBaseLogger
  readonly #ping: NodeJS.Timeout
  #size = 0

  constructor (options: StreamFanoutOptions) {
    this.#options = options
    this.#log = options.log
    this.#clientSettings = {
      maxBufferBytes: options.maxBufferBytes,
      retryMs: options.retryMs,
      metrics: options.metrics,
      spans: options.spans,
      onEnd: (client) => this.#remove(client)
    }
    // One timer pings every stream: no per-client timers.
    this.#ping = setInterval(() => this.#pingAll(), options.pingIntervalMs)
    this.#ping.unref()
  }

  get size (): number {
    return this.#size
  }

  /**
   * Opens a stream for `feed` and replays from the request's last event id: 503 without Redis, 404 for
   * an unknown entity when the source says so, 429 past the holds cap. Then it takes over the response
   * (hijacked: Fastify no longer writes to it), sends the SSE headers and the `connected` message, and
   * indexes the client, which buffers live events until its replay is done.
   */
  async open (request: FastifyRequest<{ Querystring: { lastEventId?: string } }>, reply: FastifyReply, feed: SseFeed, source: OpenSource | null): Promise<void> {
    if (!this.#options.redisReady()) throw new UnavailableError('Live updates are unavailable right now; retry shortly')
    if (source?.notFound !== undefined && await source.snapshot() === null) throw new NotFoundError(source.notFound)
    this.#options.holdSlots(request, reply)
    const client = this.#attach(reply, feed, source)
    await client.resume(lastEventIdOf(request.headers['last-event-id'], request.query.lastEventId))
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

  #attach (reply: FastifyReply, feed: SseFeed, source: FeedSource | null): SseClient {
    reply.hijack()
    const raw = reply.raw
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
    const client = new SseClient(raw, feed, source, this.#clientSettings, reply.log)
    let clients = this.#index.get(client.key)
    if (clients === undefined) {
      clients = new Set()
      this.#index.set(client.key, clients)
    }
    clients.add(client)
    this.#size++
    this.#options.metrics.activeSseStreams.inc()
    client.write(frame({ type: 'connected', timestamp: Date.now() }))
    return client
  }

  #remove (client: SseClient): void {
    const clients = this.#index.get(client.key)
    if (clients?.delete(client) !== true) return
    this.#size--
    this.#options.metrics.activeSseStreams.dec()
    if (clients.size === 0) this.#index.delete(client.key)
  }

  #pingAll (): void {
    if (this.#size === 0) return
    const ping = frame({ type: 'ping', timestamp: Date.now() })
    for (const clients of [...this.#index.values()]) {
      for (const client of [...clients]) client.write(ping)
    }
  }
}
