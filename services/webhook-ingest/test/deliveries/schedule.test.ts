import t from 'tap'
import {
  DEFAULT_RETRY_SCHEDULE_MS, isEndpointFailure, nextAttemptDelay, parseRetryAfter, parseRetrySchedule
} from '../../src/deliveries/schedule.js'

t.test('the default schedule is eight attempts over about 27 hours', async (t) => {
  t.equal(DEFAULT_RETRY_SCHEDULE_MS.length, 8)
  const hours = DEFAULT_RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0) / 3600_000
  t.ok(hours > 26 && hours < 28, `${hours} hours`)
})

t.test('next delay: the schedule with up to 10% jitter, Retry-After instead when given, null when spent', async (t) => {
  const schedule = [0, 1000, 5000]
  t.equal(nextAttemptDelay(schedule, 1, null, () => 0), 1000)
  t.equal(nextAttemptDelay(schedule, 1, null, () => 1), 1100)
  t.equal(nextAttemptDelay(schedule, 2, null, () => 0.5), 5250)
  t.equal(nextAttemptDelay(schedule, 1, 30_000), 30_000, 'Retry-After honoured')
  t.equal(nextAttemptDelay(schedule, 1, 10 * 24 * 3600_000), 24 * 3600_000, 'capped at a day')
  t.equal(nextAttemptDelay(schedule, 3, null), null, 'after the last attempt: dead letter')
  t.equal(nextAttemptDelay(schedule, 3, 1000), null, 'Retry-After does not extend the schedule')
})

t.test('which failures are the endpoint\'s and which the event\'s', async (t) => {
  const failed = (status: number | null) => ({ ok: false as const, status, error: 'x', retryAfterMs: null })
  for (const status of [null, 500, 502, 503, 408, 429]) t.ok(isEndpointFailure(failed(status)), `${status} is the endpoint's`)
  for (const status of [400, 401, 404, 410, 422, 301]) t.notOk(isEndpointFailure(failed(status)), `${status} is the event's`)
  t.notOk(isEndpointFailure({ ok: true, status: 200 }))
})

t.test('Retry-After as seconds or an HTTP date', async (t) => {
  t.equal(parseRetryAfter('120'), 120_000)
  t.equal(parseRetryAfter(new Date(10_000 + 60_000).toUTCString(), 10_000), 60_000)
  t.equal(parseRetryAfter(null), null)
  t.equal(parseRetryAfter('soon'), null)
})

t.test('BACKEND_WEBHOOK_RETRY_MS is a comma list of non-negative integers', async (t) => {
  t.same(parseRetrySchedule('0, 50,100'), [0, 50, 100])
  t.throws(() => parseRetrySchedule(''), /BACKEND_WEBHOOK_RETRY_MS/)
  t.throws(() => parseRetrySchedule('0,-1'), /BACKEND_WEBHOOK_RETRY_MS/)
})
