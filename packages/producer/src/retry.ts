// When to try a call again and how long to wait first: pure decisions, tested apart from the HTTP.

export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number
  /** First backoff; doubles per attempt up to `maxDelayMs`. */
  initialDelayMs: number
  maxDelayMs: number
  /** A `Retry-After` longer than this fails the call instead of holding the caller. */
  maxRetryAfterMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 5, initialDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 }

/**
 * Network errors, timeouts, 429 and 5xx may go away; any other 4xx says the request itself is wrong
 * and sending it again cannot help.
 */
export function isRetryableStatus (status: number): boolean {
  return status === 429 || status >= 500
}

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random, so retries of many
 * producers after one outage spread out instead of arriving together. `attempt` counts from 1.
 */
export function backoffDelayMs (attempt: number, policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>, random: () => number): number {
  const step = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(step / 2 + (step / 2) * random())
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs (header: string | null, now: number): number | undefined {
  if (header === null) return undefined
  const value = header.trim()
  if (/^[0-9]+$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}
