// @herald/producer against the real ingest: every call, retries with one webhook-id applied once, 4xx codes.
import t from 'tap'
import type { OrderUpsertBody } from '@herald/contracts'
import { createProducer, HeraldProducerError, ProducerErrorCodes } from '../src/index.ts'
import { INTERNAL_SECRET, startIngest, startProxy } from './ingest.ts'

const order: OrderUpsertBody = {
  orderNumber: 'ORD-1760113426932-RL0385',
  totalAmount: 300,
  currency: 'KES',
  ticketCount: 1,
  customer: { email: 'john@example.com', firstName: 'John', lastName: 'Doe' },
  provider: 'payhero',
  references: { externalReference: 'ORD-1760113426932-RL0385' }
}

t.test('producer calls against the real ingest', async (t) => {
  const ingest = await startIngest(t)
  const proxy = await startProxy(t, ingest.url)
  // Short backoff so a test never waits on it; Retry-After tests prove their wait with a far larger value.
  const producer = createProducer({ url: proxy.url, secret: INTERNAL_SECRET, initialDelayMs: 5, maxDelayMs: 20, timeoutMs: 5000 })
  const eventsOf = (registrationId: string) =>
    ingest.query<{ version: number, kind: string, status: string }>('select version, kind, status from registration_events where registration_id = $1 order by version', [registrationId])

  t.beforeEach(() => { proxy.attempts.length = 0 })

  t.test('the old publisher calls: stages with and without a message, the final status with its process log, a numeric id', async (t) => {
    const started = await producer.publishStageUpdate(42, 'duplicate_check', 'started')
    t.equal(started.registration.registrationId, '42')
    t.equal(started.registration.message, 'started: duplicate_check', 'a stage without a message gets the old default')
    const completed = await producer.publishStageUpdate(42, 'duplicate_check', 'completed', 'No duplicate found', { checked: 3 })
    t.equal(completed.registration.message, 'No duplicate found')
    t.same(completed.registration.details, { checked: 3 })
    const final = await producer.publishFinalStatus(42, 'APPROVED', 'Customer validated successfully. Found 5 accounts.', { accountsFound: 5 }, [
      { stage: 'duplicate_check', status: 'started', timestamp: 1702493000000 },
      { stage: 'duplicate_check', status: 'completed', message: 'No duplicate found', timestamp: new Date(1702493001000) }
    ])
    t.equal(final.registration.status, 'APPROVED')
    t.same(final.registration.details, { accountsFound: 5 })
    t.same(final.registration.processLog.map((entry) => entry.timestamp), ['2023-12-13T18:43:20.000Z', '2023-12-13T18:43:21.000Z'], 'epoch-ms and Date timestamps become ISO')
    t.match(final.subscribeToken, /\S+/)
    t.same((await eventsOf('42')).map((e) => `${e.version} ${e.kind} ${e.status}`), ['1 stage started', '2 stage completed', '3 final APPROVED'])
    t.equal(new Set(proxy.attempts.map((a) => a.webhookId)).size, 3, 'each call has its own webhook-id')
  })

  t.test('upsertOrder answers the snapshot, the subscribe token and its expiry', async (t) => {
    const answer = await producer.upsertOrder('68e9331257b0217fda84039e', order)
    t.equal(answer.order.orderNumber, order.orderNumber)
    t.equal(answer.order.paymentStatus, 'pending')
    t.match(answer.subscribeToken, /\S+/)
    t.ok(Date.parse(answer.subscribeTokenExpiresAt) > Date.now(), 'the token expires in the future')
  })

  t.test('an answer lost on a dropped connection: retried with the same webhook-id and applied once', async (t) => {
    proxy.plan('drop-answer')
    const answer = await producer.publishStageUpdate('dropped-1', 'duplicate_check', 'started', 'Checking for duplicates')
    t.equal(proxy.attempts.length, 2)
    t.equal(proxy.attempts[0]!.webhookId, proxy.attempts[1]!.webhookId, 'the retry carries the same webhook-id')
    t.equal(answer.duplicate, true, 'the ingest recognised the retry')
    t.equal(answer.registration.version, 1)
    t.same((await eventsOf('dropped-1')).map((e) => e.version), [1], 'one event recorded')

    proxy.plan('drop-answer', 'drop-answer')
    const upserted = await producer.upsertOrder('dropped-order-1', { ...order, orderNumber: 'ORD-2', references: { externalReference: 'ORD-2' } })
    t.equal(proxy.attempts.length, 5)
    t.equal(upserted.order.version, 1, 'the order was written once')
  })

  t.test('a stalled attempt times out and is retried with the same webhook-id', async (t) => {
    const impatient = createProducer({ url: proxy.url, secret: INTERNAL_SECRET, initialDelayMs: 5, timeoutMs: 300 })
    proxy.plan('stall')
    const answer = await impatient.publishStageUpdate('stalled-1', 'core_banking_lookup', 'started')
    t.equal(answer.registration.version, 1)
    t.equal(proxy.attempts.length, 2)
    t.equal(proxy.attempts[0]!.webhookId, proxy.attempts[1]!.webhookId)

    const once = createProducer({ url: proxy.url, secret: INTERNAL_SECRET, retries: 0, timeoutMs: 300 })
    proxy.plan('stall')
    await t.rejects(once.publishStageUpdate('stalled-2', 'core_banking_lookup', 'started'), { name: 'HeraldProducerError', code: ProducerErrorCodes.TIMEOUT, attempts: 1 })
  })

  t.test('Retry-After on 503 and 429 is waited out before the same request is sent again', async (t) => {
    for (const status of [503, 429]) {
      proxy.attempts.length = 0
      proxy.plan({ status, headers: { 'retry-after': '1' } })
      const answer = await producer.publishStageUpdate(`retry-after-${status}`, 'duplicate_check', 'started')
      t.equal(answer.registration.version, 1)
      t.equal(proxy.attempts.length, 2)
      t.equal(proxy.attempts[0]!.webhookId, proxy.attempts[1]!.webhookId)
      // The backoff alone is at most 20 ms here: a second apart is the server's Retry-After.
      t.ok(proxy.attempts[1]!.at - proxy.attempts[0]!.at >= 1000, `HTTP ${status}: waited ${proxy.attempts[1]!.at - proxy.attempts[0]!.at} ms`)
    }
  })

  t.test('a Retry-After longer than the producer will wait fails the call at once', async (t) => {
    proxy.plan({ status: 503, headers: { 'retry-after': '3600' } })
    await t.rejects(producer.publishStageUpdate('retry-after-long', 'duplicate_check', 'started'), { code: ProducerErrorCodes.RETRY_AFTER_TOO_LONG, status: 503 })
    t.equal(proxy.attempts.length, 1)
  })

  t.test('5xx is retried with backoff; when the retries run out the error carries the last code', async (t) => {
    const few = createProducer({ url: proxy.url, secret: INTERNAL_SECRET, retries: 2, initialDelayMs: 5, maxDelayMs: 20 })
    const unavailable = { status: 503 }
    proxy.plan(unavailable, unavailable, unavailable)
    const err = await few.publishStageUpdate('exhausted-1', 'duplicate_check', 'started').catch((e: unknown) => e)
    t.ok(err instanceof HeraldProducerError)
    t.match(err, { code: 'HERALD_ERR_UNAVAILABLE', status: 503, attempts: 3 })
    t.equal(new Set(proxy.attempts.map((a) => a.webhookId)).size, 1, 'every attempt carried one webhook-id')
    t.same(await eventsOf('exhausted-1'), [], 'nothing reached the ingest')
  })

  t.test('a 4xx is thrown at once with Herald\'s code', async (t) => {
    const bad = await producer.publishStageUpdate('bad-1', 'Not A Stage', 'started').catch((e: unknown) => e)
    t.ok(bad instanceof HeraldProducerError)
    t.match(bad, { code: 'HERALD_ERR_VALIDATION', status: 400, attempts: 1, message: /stage/ })
    t.equal(proxy.attempts.length, 1, 'not retried')

    await producer.publishFinalStatus('verdict-1', 'REJECTED', 'Documents do not match')
    await t.rejects(producer.publishFinalStatus('verdict-1', 'APPROVED', 'Approved after all'), { code: 'HERALD_ERR_CONFLICT', status: 409 })
    const again = await producer.publishFinalStatus('verdict-1', 'REJECTED', 'Documents do not match')
    t.equal(again.duplicate, true, 'the same verdict twice is a duplicate, not an error')

    const wrongSecret = createProducer({ url: proxy.url, secret: `whsec_${Buffer.from('another-secret-of-32-bytes-long!').toString('base64')}` })
    await t.rejects(wrongSecret.upsertOrder('unsigned-1', order), { code: 'HERALD_ERR_UNAUTHORIZED', status: 401, attempts: 1 })
  })

  t.test('an unreachable ingest is retried, then reported as a network error', async (t) => {
    const nowhere = createProducer({ url: 'http://127.0.0.1:9', secret: INTERNAL_SECRET, retries: 2, initialDelayMs: 5 })
    await t.rejects(nowhere.upsertOrder('nowhere-1', order), { code: ProducerErrorCodes.NETWORK, status: undefined, attempts: 3 })
  })
})
