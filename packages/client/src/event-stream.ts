// A Server-Sent Events reader on fetch (same code in browsers and Node) that reconnects and resumes from
// the last event id. fetch rather than EventSource: it tells us the status and error body of a refused
// connection (EventSource only says "error"), and it runs unchanged in Node tests.
import { createParser } from 'eventsource-parser'
import { systemClock, type Clock } from './clock.js'
import { ClientErrorCodes, HeraldClientError, errorFromResponse } from './errors.js'

export interface ReconnectPolicy {
  /** First pause after a failed connection; doubles per failure. Default 1000 ms. */
  initialDelayMs?: number
  /** Longest pause between attempts. Default 30000 ms. */
  maxDelayMs?: number
}

export interface EventStreamOptions extends ReconnectPolicy {
  /** Builds the URL of each connection; gets the id to resume from (undefined on a fresh start). */
  url: (lastEventId: string | undefined) => string
  /** Resume from here on the first connection. */
  lastEventId?: string
  /** Sent with every connection, e.g. `authorization`: a token in a header stays out of URLs and their logs. */
  headers?: Record<string, string>
  /**
   * No bytes for this long means the connection is dead even if the socket does not know it yet (the
   * gateway pings every 30 s by default). Default 75000 ms; 0 disables.
   */
  idleTimeoutMs?: number
  fetch?: typeof globalThis.fetch
  clock?: Clock
  /** Jitter source in [0, 1): spreads reconnects of many clients after a gateway restart. */
  random?: () => number
  onOpen?: () => void
  /** One `data:` payload, parsed as JSON, with the event's `id:` when it had one. */
  onMessage: (message: unknown, id: string | undefined) => void
  /** The connection ended; `retryInMs` is the pause before the next try (undefined: not retrying). */
  onDisconnect?: (retryInMs: number | undefined) => void
  /** `willRetry` false means the stream has stopped for good (a 4xx: bad token, unknown entity). */
  onError?: (error: HeraldClientError, willRetry: boolean) => void
}

export interface EventStream {
  readonly lastEventId: string | undefined
  close (): void
}

/** The pause after `failures` consecutive failures: exponential, capped, with jitter in its upper half. */
export function reconnectDelay (failures: number, policy: ReconnectPolicy, random: () => number): number {
  const initial = policy.initialDelayMs ?? 1000
  const max = policy.maxDelayMs ?? 30_000
  const ceiling = Math.min(max, initial * 2 ** Math.max(0, failures - 1))
  return Math.round(ceiling / 2 + (ceiling / 2) * random())
}

export function openEventStream (options: EventStreamOptions): EventStream {
  const clock = options.clock ?? systemClock
  const random = options.random ?? Math.random
  const fetchImpl = options.fetch ?? globalThis.fetch
  const idleTimeoutMs = options.idleTimeoutMs ?? 75_000
  const stopped = new AbortController()
  let lastEventId = options.lastEventId
  /** Whether the current connection got as far as an open stream: a drop after that is not a failure streak. */
  let opened = false

  /** Reads one connection to its end; resolves with the server's requested pause (closing / retry:). */
  async function readConnection (connection: AbortController): Promise<number | undefined> {
    let serverRetryMs: number | undefined
    const headers: Record<string, string> = { ...options.headers, accept: 'text/event-stream' }
    const response = await fetchImpl(options.url(lastEventId), { headers, signal: connection.signal, cache: 'no-store' })
    if (!response.ok) throw await errorFromResponse(response)
    if (response.body === null) throw new HeraldClientError(ClientErrorCodes.BAD_RESPONSE, 'the event stream has no body', { status: response.status })
    opened = true
    options.onOpen?.()

    const parser = createParser({
      onRetry: (ms) => { serverRetryMs = ms },
      onEvent: (event) => {
        if (event.id !== undefined && event.id !== '') lastEventId = event.id
        let message: unknown
        try {
          message = JSON.parse(event.data)
        } catch {
          return // not ours to understand: a proxy's comment or a future format
        }
        if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'closing') {
          const retryMs = (message as { retryMs?: unknown }).retryMs
          if (typeof retryMs === 'number') serverRetryMs = retryMs
        }
        options.onMessage(message, event.id === '' ? undefined : event.id)
      }
    })

    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    let cancelIdle = (): void => {}
    const armIdle = (): void => {
      cancelIdle()
      if (idleTimeoutMs > 0) cancelIdle = clock.timer(() => connection.abort(), idleTimeoutMs)
    }
    armIdle()
    try {
      while (true) {
        const { done, value } = await reader.read()
        if (done) break
        armIdle()
        parser.feed(value)
      }
    } finally {
      cancelIdle()
      reader.releaseLock()
    }
    return serverRetryMs
  }

  async function run (): Promise<void> {
    let failures = 0
    while (!stopped.signal.aborted) {
      const connection = new AbortController()
      const stop = (): void => connection.abort()
      stopped.signal.addEventListener('abort', stop, { once: true })
      let pause: number
      opened = false
      try {
        const serverRetryMs = await readConnection(connection)
        failures = 0
        // The server ended the stream (shutdown, rollout, slow reader): come back when it said, or soon.
        pause = serverRetryMs ?? reconnectDelay(1, options, random)
      } catch (error) {
        if (stopped.signal.aborted) return
        const clientError = error instanceof HeraldClientError
          ? error
          : new HeraldClientError(ClientErrorCodes.NETWORK, 'the event stream was interrupted', { cause: error })
        if (!clientError.retryable) {
          options.onDisconnect?.(undefined)
          options.onError?.(clientError, false)
          return
        }
        failures = opened ? 1 : failures + 1
        pause = reconnectDelay(failures, options, random)
        options.onError?.(clientError, true)
      } finally {
        stopped.signal.removeEventListener('abort', stop)
      }
      if (stopped.signal.aborted) return
      options.onDisconnect?.(pause)
      if (opened && pause === 0) continue
      try {
        await clock.sleep(pause, stopped.signal)
      } catch {
        return
      }
    }
  }

  run().catch((error: unknown) => {
    options.onError?.(new HeraldClientError(ClientErrorCodes.NETWORK, 'the event stream stopped', { cause: error }), false)
  })

  return {
    get lastEventId () { return lastEventId },
    close () { stopped.abort() }
  }
}
