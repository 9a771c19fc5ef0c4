// Waits for one order's payment with long-polls: the checkout page's "up to 4 waits, 5 s apart" policy.
import type { OrderWaitResponse, PaymentStatus } from './wire.js'
import { abortReason, systemClock, type Clock } from './clock.js'
import { ClientErrorCodes, HeraldClientError, errorFromResponse } from './errors.js'
import { gatewayUrl } from './url.js'

/** Kept here rather than imported so the browser bundle does not pull in the contracts' validators. */
export const FINAL_PAYMENT_STATUSES = ['completed', 'failed', 'cancelled'] as const satisfies readonly PaymentStatus[]

export function isFinalPaymentStatus (status: PaymentStatus): boolean {
  return (FINAL_PAYMENT_STATUSES as readonly PaymentStatus[]).includes(status)
}

export interface WaitForOrderOptions {
  /** Gateway origin, e.g. `https://status.example.com`; `''` for the page's own origin. */
  baseUrl: string
  /** Subscribe token from `PUT /v1/orders/:orderId` (or an admin token); sent as `Authorization: Bearer`. */
  token?: string
  /** Long-polls that may end without a final state before giving up. Default 4. */
  attempts?: number
  /** Pause after a long-poll that ended without news or failed. Default 5000 ms. */
  pauseMs?: number
  /** How long the gateway holds each long-poll (`timeout=`). Default: the gateway's own (60 s). */
  timeoutMs?: number
  /** Client-side limit of one request; default the hold time plus 15 s of slack. */
  requestTimeoutMs?: number
  /** Version already seen; the first long-poll returns at once only when the order is newer. */
  since?: number
  signal?: AbortSignal
  fetch?: typeof globalThis.fetch
  clock?: Clock
  /** Called before each long-poll. */
  onAttempt?: (attempt: number, attempts: number) => void
  /** Called with every answer that is not final yet (e.g. pending → processing). */
  onUpdate?: (order: OrderWaitResponse) => void
}

export type WaitForOrderResult =
  | { state: 'final', order: OrderWaitResponse }
  /** Attempts ran out while the payment is still open: tell the customer it is still being processed. */
  | { state: 'pending', order: OrderWaitResponse }

const DEFAULT_GATEWAY_HOLD_MS = 60_000
const REQUEST_SLACK_MS = 15_000

export async function waitForOrder (orderId: string, options: WaitForOrderOptions): Promise<WaitForOrderResult> {
  const attempts = Math.max(1, options.attempts ?? 4)
  const pauseMs = options.pauseMs ?? 5000
  const clock = options.clock ?? systemClock
  const signal = options.signal
  let since = options.since
  let latest: OrderWaitResponse | undefined
  let lastError: unknown

  let attempt = 0
  while (attempt < attempts) {
    throwIfAborted(signal)
    attempt++
    options.onAttempt?.(attempt, attempts)
    try {
      const order = await requestWait(orderId, since, options)
      const advanced = since === undefined || order.version > since
      latest = order
      since = order.version
      if (isFinalPaymentStatus(order.paymentStatus)) return { state: 'final', order }
      options.onUpdate?.(order)
      // The wait ended because the order moved on, not because time ran out: wait again at once, and
      // this does not use up an attempt (versions only grow, so this cannot spin).
      if (!order.timedOut && advanced) {
        attempt--
        continue
      }
    } catch (error) {
      throwIfAborted(signal)
      if (error instanceof HeraldClientError && !error.retryable) throw error
      lastError = error
    }
    if (attempt < attempts) await clock.sleep(pauseMs, signal)
  }
  if (latest !== undefined) return { state: 'pending', order: latest }
  throw new HeraldClientError(ClientErrorCodes.UNREACHABLE, `no answer from the gateway after ${attempts} attempts`, { cause: lastError })
}

function throwIfAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortReason(signal)
}

async function requestWait (orderId: string, since: number | undefined, options: WaitForOrderOptions): Promise<OrderWaitResponse> {
  const fetchImpl = options.fetch ?? globalThis.fetch
  const clock = options.clock ?? systemClock
  const url = gatewayUrl(options.baseUrl, `/api/orders/${encodeURIComponent(orderId)}/wait`, {
    timeout: options.timeoutMs,
    since
  })
  const requestTimeoutMs = options.requestTimeoutMs ?? (options.timeoutMs ?? DEFAULT_GATEWAY_HOLD_MS) + REQUEST_SLACK_MS
  const controller = new AbortController()
  let timedOut = false
  const cancelTimer = clock.timer(() => {
    timedOut = true
    controller.abort()
  }, requestTimeoutMs)
  const onAbort = (): void => controller.abort(options.signal?.reason)
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    let response: Response
    try {
      response = await fetchImpl(url, { headers, signal: controller.signal, cache: 'no-store' })
    } catch (error) {
      if (timedOut) throw new HeraldClientError(ClientErrorCodes.TIMEOUT, `no answer within ${requestTimeoutMs} ms`, { cause: error })
      if (options.signal?.aborted === true) throw error
      throw new HeraldClientError(ClientErrorCodes.NETWORK, 'the gateway could not be reached', { cause: error })
    }
    if (!response.ok) throw await errorFromResponse(response)
    try {
      return await response.json() as OrderWaitResponse
    } catch (error) {
      if (timedOut) throw new HeraldClientError(ClientErrorCodes.TIMEOUT, `no answer within ${requestTimeoutMs} ms`, { cause: error })
      throw new HeraldClientError(ClientErrorCodes.BAD_RESPONSE, 'the gateway answered with something that is not JSON', { status: response.status, cause: error })
    }
  } finally {
    cancelTimer()
    options.signal?.removeEventListener('abort', onAbort)
  }
}
