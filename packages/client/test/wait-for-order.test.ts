import t from 'tap'
import type { OrderWaitResponse } from '@herald/contracts'
import { waitForOrder } from '../src/wait-for-order.ts'
import { HeraldClientError } from '../src/errors.ts'
import { FakeClock } from './fake-clock.ts'

function order (overrides: Partial<OrderWaitResponse> = {}): OrderWaitResponse {
  return {
    success: true,
    timedOut: false,
    orderId: 'ord-1',
    orderNumber: 'HX-1',
    paymentStatus: 'pending',
    status: 'pending',
    totalAmount: 1500,
    currency: 'KES',
    ticketCount: 2,
    customer: null,
    payment: { provider: 'mpesa', outcome: null, resultCode: null, resultDesc: null, receipt: null, checkoutRequestId: 'ws_CO_1' },
    needsReview: false,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    version: 1,
    ...overrides
  }
}

type Step = OrderWaitResponse | { status: number, body: unknown } | Error | 'hang'

/** A fetch that plays `steps` in order and records the requests it got. */
function scriptedFetch (steps: Step[]) {
  const requests: Array<{ url: URL, headers: Record<string, string> }> = []
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    requests.push({ url: new URL(String(input)), headers: (init?.headers ?? {}) as Record<string, string> })
    const step = steps.shift()
    if (step === undefined) throw new Error('no more scripted answers')
    if (step === 'hang') {
      return await new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
      })
    }
    if (step instanceof Error) throw step
    if ('status' in step && typeof step.status === 'number' && !('orderId' in step)) {
      return new Response(JSON.stringify(step.body), { status: step.status, headers: { 'content-type': 'application/json' } })
    }
    return Response.json(step)
  }
  return { fetch: fetch as typeof globalThis.fetch, requests }
}

const base = 'http://gateway.test'

t.test('a final answer resolves at once, with the token as a bearer header and the hold time as timeout=', async (t) => {
  const clock = new FakeClock()
  const { fetch, requests } = scriptedFetch([order({ paymentStatus: 'completed', status: 'paid', version: 3 })])
  const result = await waitForOrder('ord-1', { baseUrl: base, token: 'tok', timeoutMs: 30_000, fetch, clock })
  t.equal(result.state, 'final')
  t.equal(result.order.paymentStatus, 'completed')
  t.equal(requests.length, 1)
  t.equal(requests[0]!.url.pathname, '/api/orders/ord-1/wait')
  t.equal(requests[0]!.url.searchParams.get('timeout'), '30000')
  t.equal(requests[0]!.url.searchParams.get('since'), null, 'no since on a fresh wait')
  t.equal(requests[0]!.headers.authorization, 'Bearer tok')
  t.same(clock.sleeps, [])
})

t.test('a change that is not final waits again at once, carrying since, without using up an attempt', async (t) => {
  const clock = new FakeClock()
  const seen: string[] = []
  const { fetch, requests } = scriptedFetch([
    order({ version: 1 }),
    order({ version: 2, paymentStatus: 'processing' }),
    order({ version: 2, paymentStatus: 'processing', timedOut: true }),
    order({ version: 4, paymentStatus: 'cancelled', status: 'cancelled' })
  ])
  const result = await waitForOrder('ord-1', { baseUrl: base, attempts: 2, fetch, clock, onUpdate: (o) => seen.push(o.paymentStatus) })
  t.equal(result.state, 'final')
  t.equal(result.order.paymentStatus, 'cancelled')
  t.same(requests.map((r) => r.url.searchParams.get('since')), [null, '1', '2', '2'])
  t.same(clock.sleeps, [5000], 'only the timed-out wait is followed by a pause')
  t.same(seen, ['pending', 'processing', 'processing'])
})

t.test('when attempts run out the result says still pending, after a pause between each attempt', async (t) => {
  const clock = new FakeClock()
  const attemptsSeen: number[] = []
  const { fetch, requests } = scriptedFetch([1, 2, 3, 4].map(() => order({ version: 1, timedOut: true })))
  const result = await waitForOrder('ord-1', { baseUrl: base, since: 1, fetch, clock, onAttempt: (n) => attemptsSeen.push(n) })
  t.equal(result.state, 'pending')
  t.equal(result.order.version, 1)
  t.equal(requests.length, 4, 'four long-polls by default')
  t.same(clock.sleeps, [5000, 5000, 5000], 'three pauses of 5 s between four attempts')
  t.same(attemptsSeen, [1, 2, 3, 4])
})

t.test('network errors and 5xx are retried with the pause; the next answer still counts', async (t) => {
  const clock = new FakeClock()
  const { fetch } = scriptedFetch([
    new TypeError('fetch failed'),
    { status: 503, body: { success: false, error: 'shutting down', code: 'HERALD_ERR_UNAVAILABLE' } },
    order({ version: 5, paymentStatus: 'completed', status: 'paid' })
  ])
  const result = await waitForOrder('ord-1', { baseUrl: base, pauseMs: 250, fetch, clock })
  t.equal(result.state, 'final')
  t.same(clock.sleeps, [250, 250])
})

t.test('a 4xx fails at once with the error body code', async (t) => {
  const clock = new FakeClock()
  const { fetch, requests } = scriptedFetch([
    { status: 404, body: { success: false, error: 'order ord-9 is not known', code: 'HERALD_ERR_NOT_FOUND' } }
  ])
  const error = await waitForOrder('ord-9', { baseUrl: base, fetch, clock }).catch((e: unknown) => e)
  t.ok(error instanceof HeraldClientError)
  t.match(error, { code: 'HERALD_ERR_NOT_FOUND', status: 404, message: 'order ord-9 is not known' })
  t.equal(requests.length, 1)
  t.same(clock.sleeps, [])
})

t.test('no answer at all after every attempt is an unreachable error, not a pending result', async (t) => {
  const clock = new FakeClock()
  const { fetch } = scriptedFetch([new TypeError('a'), new TypeError('b'), new TypeError('c')])
  await t.rejects(waitForOrder('ord-1', { baseUrl: base, attempts: 3, fetch, clock }), { code: 'HERALD_CLIENT_UNREACHABLE' })
  t.same(clock.sleeps, [5000, 5000])
})

t.test('a request that outlives its own timeout is aborted and retried', async (t) => {
  const clock = new FakeClock()
  const { fetch, requests } = scriptedFetch(['hang', order({ version: 2, paymentStatus: 'failed', status: 'failed' })])
  const pending = waitForOrder('ord-1', { baseUrl: base, timeoutMs: 1000, fetch, clock })
  while (clock.pendingTimers === 0) await new Promise((resolve) => setImmediate(resolve))
  t.equal(clock.fireTimers(), 1, 'the request timer was armed')
  const result = await pending
  t.equal(result.state, 'final')
  t.equal(requests.length, 2)
})

t.test('aborting stops the wait with the abort reason, also during a pause', async (t) => {
  const controller = new AbortController()
  const clock = new FakeClock()
  const { fetch } = scriptedFetch(['hang'])
  const pending = waitForOrder('ord-1', { baseUrl: base, fetch, clock, signal: controller.signal })
  controller.abort(new Error('customer left'))
  await t.rejects(pending, { message: 'customer left' })

  const sleeper = new AbortController()
  const realFetch = scriptedFetch([order({ timedOut: true })])
  const waiting = waitForOrder('ord-1', {
    baseUrl: base,
    fetch: realFetch.fetch,
    signal: sleeper.signal,
    pauseMs: 60_000,
    onUpdate: () => setImmediate(() => sleeper.abort(new Error('gone')))
  })
  await t.rejects(waiting, { message: 'gone' }, 'the real clock sleep is cut short by the signal')
})
