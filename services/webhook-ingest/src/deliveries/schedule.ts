// When to try a back-end delivery again, and what a failed attempt says about the endpoint. No I/O.

/** Svix's schedule: the delays before attempts 1..8, about 27 hours in all. */
export const DEFAULT_RETRY_SCHEDULE_MS = [0, 5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]

/** A Retry-After longer than this is read as this: a receiver cannot park an event for days. */
const MAX_RETRY_AFTER_MS = 24 * 3600_000

export function parseRetrySchedule (value: string): number[] {
  const delays = value.split(',').map((item) => item.trim()).filter(Boolean).map(Number)
  if (delays.length === 0 || delays.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error('BACKEND_WEBHOOK_RETRY_MS must be a comma list of delays in milliseconds (integers >= 0)')
  }
  return delays
}

export type AttemptResult =
  | { ok: true, status: number }
  | { ok: false, status: number | null, error: string, retryAfterMs: number | null }

/**
 * A failure the endpoint as a whole is having (unreachable, timed out, 5xx, 408, 429): no new events are
 * read for it until its next retry succeeds. Any other non-2xx is this event's problem (a poison event):
 * it is retried on its own schedule while the endpoint's other entities flow.
 */
export function isEndpointFailure (result: AttemptResult): boolean {
  if (result.ok) return false
  return result.status === null || result.status >= 500 || result.status === 408 || result.status === 429
}

/**
 * Milliseconds until the attempt after `attemptsMade` attempts, or null when the schedule is spent (the
 * event is dead-lettered). Retry-After, when the receiver sent one, replaces the scheduled delay; the
 * scheduled delay gets up to 10% of jitter so that many failed events do not come back at once.
 */
export function nextAttemptDelay (schedule: readonly number[], attemptsMade: number, retryAfterMs: number | null, random = Math.random): number | null {
  if (attemptsMade >= schedule.length) return null
  if (retryAfterMs !== null) return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS)
  const delay = schedule[attemptsMade]!
  return Math.round(delay + delay * 0.1 * random())
}

/** Retry-After as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter (value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null
  const trimmed = value.trim()
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}
