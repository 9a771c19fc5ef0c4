import t from 'tap'
import { backoffDelayMs, isRetryableStatus, retryAfterMs } from '../src/retry.ts'

t.test('429 and 5xx are retried; other answers are not', async (t) => {
  t.same([200, 400, 401, 404, 409, 413, 429, 500, 502, 503].filter(isRetryableStatus), [429, 500, 502, 503])
})

t.test('backoff doubles per attempt up to the cap, half of it jittered', async (t) => {
  const policy = { initialDelayMs: 100, maxDelayMs: 1000 }
  t.same([1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, policy, () => 0)), [50, 100, 200, 400, 500])
  t.same([1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, policy, () => 1)), [100, 200, 400, 800, 1000])
})

t.test('Retry-After as delta-seconds or an HTTP date', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(retryAfterMs('2', now), 2000)
  t.equal(retryAfterMs(' 0 ', now), 0)
  t.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000)
  t.equal(retryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now), 0, 'a date in the past means now')
  t.equal(retryAfterMs(null, now), undefined)
  t.equal(retryAfterMs('soon', now), undefined)
})
