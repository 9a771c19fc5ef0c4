// Live updates of registrations and orders over SSE, with reconnect, resume and duplicate suppression.
import type {
  OrderSnapshot, RegistrationSnapshot, RegistrationUpdate, ResetReason
} from './wire.js'
import type { Clock } from './clock.js'
import type { HeraldClientError } from './errors.js'
import { openEventStream, type ReconnectPolicy } from './event-stream.js'
import { gatewayUrl } from './url.js'

export interface FollowHandlers<Update, Snapshot> {
  /** One update, at most once per event id, in the order the server sent them. */
  onUpdate?: (update: Update, id: string | undefined) => void
  /**
   * The server could not replay what was missed (the id is older than its retention, or unknown): here is
   * the current state instead. Replace what you show with it.
   */
  onReset?: (snapshot: Snapshot | null, reason: ResetReason) => void
  /** True once the server said `connected`, false when the connection is lost (it will come back). */
  onConnectionChange?: (connected: boolean) => void
  /** `willRetry` false: the stream has stopped (bad token, unknown entity); nothing more will come. */
  onError?: (error: HeraldClientError, willRetry: boolean) => void
}

export interface FollowOptions extends ReconnectPolicy {
  /** Gateway origin; `''` for the page's own origin. */
  baseUrl: string
  /**
   * Subscribe or admin token, sent as `Authorization: Bearer` (the stream is read with fetch, which can
   * send headers): never in the URL, where proxies, logs and a cross-origin preflight would see it.
   */
  token?: string
  /** Resume after this event id (e.g. one kept from an earlier page view). */
  lastEventId?: string
  /** See EventStreamOptions.idleTimeoutMs. */
  idleTimeoutMs?: number
  fetch?: typeof globalThis.fetch
  clock?: Clock
  random?: () => number
}

/** Stops following; safe to call more than once. */
export type Unsubscribe = () => void

/** Ids remembered for duplicate suppression: replays overlap the last few events, not thousands. */
const REMEMBERED_IDS = 2048

interface Message { type: string, data?: unknown, reason?: unknown }

function follow<Update, Snapshot> (
  path: string,
  query: Record<string, string | undefined>,
  handlers: FollowHandlers<Update, Snapshot>,
  options: FollowOptions
): Unsubscribe {
  const seen = new Set<string>()
  let connected = false
  const setConnected = (value: boolean): void => {
    if (connected === value) return
    connected = value
    handlers.onConnectionChange?.(value)
  }

  const stream = openEventStream({
    url: (lastEventId) => gatewayUrl(options.baseUrl, path, { ...query, lastEventId }),
    headers: options.token === undefined ? undefined : { authorization: `Bearer ${options.token}` },
    lastEventId: options.lastEventId,
    initialDelayMs: options.initialDelayMs,
    maxDelayMs: options.maxDelayMs,
    idleTimeoutMs: options.idleTimeoutMs,
    fetch: options.fetch,
    clock: options.clock,
    random: options.random,
    onMessage (raw, id) {
      if (typeof raw !== 'object' || raw === null) return
      const message = raw as Message
      switch (message.type) {
        case 'connected':
          setConnected(true)
          return
        case 'update':
          if (id !== undefined) {
            if (seen.has(id)) return
            seen.add(id)
            if (seen.size > REMEMBERED_IDS) seen.delete(seen.values().next().value as string)
          }
          handlers.onUpdate?.(message.data as Update, id)
          return
        case 'reset':
          handlers.onReset?.((message.data ?? null) as Snapshot | null, message.reason as ResetReason)
          break
        default:
          // ping keeps the idle watchdog fed; closing is handled by the stream (it carries retryMs).
          break
      }
    },
    onDisconnect: () => setConnected(false),
    onError: (error, willRetry) => handlers.onError?.(error, willRetry)
  })
  return () => {
    stream.close()
    setConnected(false)
  }
}

export type RegistrationHandlers = FollowHandlers<RegistrationUpdate, RegistrationSnapshot>
export type OrderHandlers = FollowHandlers<OrderSnapshot, OrderSnapshot>

/** Follows one registration's stages and final verdict (`GET /api/registrations/updates/stream?registrationId=`). */
export function followRegistration (registrationId: string, handlers: RegistrationHandlers, options: FollowOptions): Unsubscribe {
  return follow('/api/registrations/updates/stream', { registrationId }, handlers, options)
}

/** Every registration as it happens; needs an admin token. */
export function followAllRegistrations (handlers: RegistrationHandlers, options: FollowOptions): Unsubscribe {
  return follow('/api/registrations/updates/stream', {}, handlers, options)
}

/** Follows one order; each update is its full snapshot (`GET /api/orders/:orderId/events`). */
export function followOrder (orderId: string, handlers: OrderHandlers, options: FollowOptions): Unsubscribe {
  return follow(`/api/orders/${encodeURIComponent(orderId)}/events`, {}, handlers, options)
}

/** Every order as it changes; needs an admin token (`GET /api/orders/updates/stream`). */
export function followAllOrders (handlers: OrderHandlers, options: FollowOptions): Unsubscribe {
  return follow('/api/orders/updates/stream', {}, handlers, options)
}
