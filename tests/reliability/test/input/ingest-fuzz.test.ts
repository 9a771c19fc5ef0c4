// Property-based fuzzing of every ingest endpoint: whatever arrives, never a 5xx, never a crash, and a
// rejected request changes nothing in Postgres.
import t from 'tap'
import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { signStandardWebhook } from '@herald/producer'
import { buildIngestApp } from '../support/apps.js'
import { recordFigures, tableCounts, usePostgres, useStorage } from '../support/storage.js'
import { INTERNAL_SECRET, darajaCallback, orderBody } from '../support/traffic.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)

/** Valid-looking values mixed with anything JSON can carry. */
const anyJson = fc.jsonValue({ maxDepth: 4 })
const maybe = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: anyJson })
// Strings include NUL (Postgres refuses it in text and jsonb: the ingest must answer 400, not 500).
const text = fc.string({ unit: 'binary', maxLength: 80 })
const entityIdLike = fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}$/), text, fc.constantFrom('..', '%2e%2e', 'a/b', 'a\nb', ' ', 'x'.repeat(90), 'x'.repeat(200), 'x'.repeat(600), '__proto__', 'constructor'))

const orderArb = fc.record({
  orderNumber: maybe(fc.string({ minLength: 1, maxLength: 64 })),
  totalAmount: maybe(fc.oneof(fc.double({ noNaN: true }), fc.integer(), fc.constantFrom(0, -1, 1e13, 1e308))),
  currency: maybe(fc.constantFrom('KES', 'USD', 'kes', 'KESS', '')),
  ticketCount: maybe(fc.integer({ min: -5, max: 200_000 })),
  customer: maybe(fc.record({ email: maybe(fc.emailAddress()), firstName: maybe(text), lastName: maybe(text), phone: maybe(text) }, { requiredKeys: [] })),
  provider: maybe(fc.constantFrom('mpesa', 'payhero', 'paypal')),
  references: maybe(fc.record({ checkoutRequestId: maybe(text), externalReference: maybe(text), merchantRequestId: maybe(text), providerReference: maybe(text) }, { requiredKeys: [] }))
}, { requiredKeys: [] })

const registrationArb = fc.record({
  type: maybe(fc.constantFrom('stage', 'final', 'other')),
  stage: maybe(fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), text)),
  status: maybe(fc.constantFrom('started', 'completed', 'failed', 'APPROVED', 'REJECTED', 'approved')),
  message: maybe(fc.string({ maxLength: 1100 })),
  details: maybe(fc.dictionary(fc.string({ maxLength: 70 }), anyJson, { maxKeys: 70 })),
  processLog: maybe(fc.array(fc.record({ stage: maybe(text), status: maybe(fc.constantFrom('started', 'completed')), timestamp: maybe(fc.date({ noInvalidDate: true }).map((d) => d.toISOString())) }, { requiredKeys: [] }), { maxLength: 105 }))
}, { requiredKeys: [] })

const darajaArb = fc.record({
  Body: maybe(fc.record({
    stkCallback: maybe(fc.record({
      MerchantRequestID: maybe(text),
      CheckoutRequestID: maybe(fc.oneof(text, fc.constant('ws_CO_fuzz_known'))),
      ResultCode: maybe(fc.oneof(fc.integer(), fc.constantFrom(0, 1032, 1037, 2001, 1, 17, 9999))),
      ResultDesc: maybe(text),
      CallbackMetadata: maybe(fc.record({ Item: maybe(fc.array(fc.record({ Name: maybe(text), Value: maybe(fc.oneof(fc.double(), text)) }, { requiredKeys: [] }), { maxLength: 40 })) }, { requiredKeys: [] }))
    }, { requiredKeys: [] }))
  }, { requiredKeys: [] }))
}, { requiredKeys: [] })

const payheroArb = fc.oneof(
  fc.record({
    status: maybe(fc.boolean()),
    forward_url: maybe(fc.oneof(text, fc.constant(null))),
    response: maybe(fc.record({
      Amount: maybe(fc.double()),
      CheckoutRequestID: maybe(fc.oneof(text, fc.constant('ws_CO_fuzz_known'))),
      ExternalReference: maybe(text),
      ResultCode: maybe(fc.integer()),
      ResultDesc: maybe(text),
      Status: maybe(text),
      MpesaReceiptNumber: maybe(text)
    }, { requiredKeys: [] }))
  }, { requiredKeys: [] }),
  fc.record({
    success: maybe(fc.boolean()),
    status: maybe(fc.constantFrom('SUCCESS', 'FAILED', 'QUEUED', 'x')),
    reference: maybe(text),
    external_reference: maybe(text),
    amount: maybe(fc.double()),
    currency: maybe(fc.constantFrom('KES', 'usd')),
    result_code: maybe(fc.integer()),
    callback_urls: anyJson
  }, { requiredKeys: [] })
)

const contentTypes = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/xml', '')

t.test('ingest endpoints under property-based fuzzing', async (t) => {
  const storage = await useStorage(t, 'ingest_fuzz')
  const pool = usePostgres(t, storage)
  const app = await buildIngestApp(t, storage)
  // One known order, so callbacks that do match something go down the real state-machine path.
  const known = JSON.stringify(orderBody('ws_CO_fuzz_known', { totalAmount: 1 }))
  const registered = await app.inject({ method: 'PUT', url: '/v1/orders/fuzz-known', payload: known, headers: { 'content-type': 'application/json', ...signStandardWebhook(INTERNAL_SECRET, known) } })
  t.equal(registered.statusCode, 200, 'the known order is registered')

  const statuses: Record<string, number> = {}
  let tried = 0
  let rejectedChecked = 0
  /** Sends one request; a 5xx fails, and a rejected request must leave every table as it was. */
  async function probe (request: InjectOptions, label: string): Promise<boolean> {
    const before = await tableCounts(pool)
    const res = await app.inject(request)
    tried++
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
    if (res.statusCode >= 500) {
      t.fail(`${label}: ${res.statusCode} for ${JSON.stringify(request).slice(0, 600)}: ${res.body.slice(0, 300)}`)
      return false
    }
    if (res.statusCode >= 400) {
      const after = await tableCounts(pool)
      rejectedChecked++
      if (JSON.stringify(after) !== JSON.stringify(before)) {
        t.fail(`${label}: a rejected request (${res.statusCode}) changed state: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`)
        return false
      }
      const body = res.json() as { success?: unknown, code?: unknown, error?: unknown }
      if (body.success !== false || typeof body.code !== 'string' || typeof body.error !== 'string') {
        t.fail(`${label}: a ${res.statusCode} without the error body: ${res.body.slice(0, 300)}`)
        return false
      }
    }
    return true
  }

  const signed = (payload: string, id?: string) => ({ 'content-type': 'application/json', ...signStandardWebhook(INTERNAL_SECRET, payload, id === undefined ? {} : { id }) })

  await t.test('PUT /v1/orders/:orderId with signed arbitrary bodies and ids', async () => {
    await fc.assert(fc.asyncProperty(entityIdLike, orderArb, async (orderId, body) => {
      const payload = JSON.stringify(body)
      return probe({ method: 'PUT', url: `/v1/orders/${encodeURIComponent(orderId)}`, payload, headers: signed(payload) }, 'order')
    }), { numRuns: RUNS })
  })

  await t.test('POST /v1/registrations/:id/events with signed arbitrary bodies and ids', async () => {
    await fc.assert(fc.asyncProperty(entityIdLike, registrationArb, async (id, body) => {
      const payload = JSON.stringify(body)
      return probe({ method: 'POST', url: `/v1/registrations/${encodeURIComponent(id)}/events`, payload, headers: signed(payload) }, 'registration')
    }), { numRuns: RUNS })
  })

  await t.test('POST /webhooks/mpesa/:token with arbitrary callbacks', async () => {
    await fc.assert(fc.asyncProperty(darajaArb, async (body) => {
      return probe({ method: 'POST', url: `/webhooks/mpesa/${TEST_SECRETS.MPESA_CALLBACK_TOKEN}`, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }, 'mpesa')
    }), { numRuns: RUNS })
  })

  await t.test('POST /webhooks/payhero/:token with arbitrary callbacks (v2 and Africa shapes)', async () => {
    await fc.assert(fc.asyncProperty(payheroArb, async (body) => {
      return probe({ method: 'POST', url: `/webhooks/payhero/${TEST_SECRETS.PAYHERO_CALLBACK_TOKEN}`, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }, 'payhero')
    }), { numRuns: RUNS })
  })

  await t.test('unauthenticated garbage on every endpoint: 4xx, no state change', async () => {
    const endpoint = fc.constantFrom(
      (x: string) => ({ method: 'POST' as const, url: `/webhooks/mpesa/${x}` }),
      (x: string) => ({ method: 'POST' as const, url: `/webhooks/payhero/${x}` }),
      (x: string) => ({ method: 'PUT' as const, url: `/v1/orders/${x}` }),
      (x: string) => ({ method: 'POST' as const, url: `/v1/registrations/${x}/events` })
    )
    const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 120 }).filter((v) => !/[\r\n\0]/.test(v))
    await fc.assert(fc.asyncProperty(endpoint, text, fc.oneof(fc.string({ maxLength: 300 }), anyJson.map((v) => JSON.stringify(v))), contentTypes,
      fc.record({ 'webhook-id': headerValue, 'webhook-timestamp': fc.oneof(headerValue, fc.integer().map(String)), 'webhook-signature': fc.oneof(headerValue, headerValue.map((s) => `v1,${Buffer.from(s).toString('base64')}`)) }, { requiredKeys: [] }),
      async (route, token, payload, contentType, webhookHeaders) => {
        const headers: Record<string, string> = { ...webhookHeaders }
        if (contentType !== '') headers['content-type'] = contentType
        // A token that happens to be right is not garbage: skip it.
        if (token === TEST_SECRETS.MPESA_CALLBACK_TOKEN || token === TEST_SECRETS.PAYHERO_CALLBACK_TOKEN) return true
        return probe({ ...route(encodeURIComponent(token) || 'x'), payload, headers }, 'garbage')
      }), { numRuns: RUNS * 2 })
  })

  await t.test('replays of one signed message: applied once, answered each time', async () => {
    const body = { type: 'stage', stage: 'duplicate_check', status: 'started' }
    const payload = JSON.stringify(body)
    const headers = signed(payload, 'msg_replay_fixed')
    for (let i = 0; i < 5; i++) {
      const res = await app.inject({ method: 'POST', url: '/v1/registrations/fuzz-replay/events', payload, headers })
      tried++
      t.equal(res.statusCode, 200, `replay ${i + 1} answered 200`)
    }
    const { rows: [row] } = await pool.query('select version from registrations where id = $1', ['fuzz-replay'])
    t.equal(row.version, 1, 'applied once')
    // The same webhook-id on another entity is not a way to write there.
    const other = await app.inject({ method: 'POST', url: '/v1/registrations/fuzz-other/events', payload, headers })
    t.ok(other.statusCode < 500, 'the id reused for another entity is not a 5xx')
    const { rows } = await pool.query('select version from registrations where id = $1', ['fuzz-other'])
    t.same(rows, [], 'and writes nothing there')
  })

  await t.test('a NUL character in any string field is a 400, not a 500', async (t) => {
    const nul = 'ws_CO_\u0000x'
    const payloads = [
      { label: 'mpesa', request: { method: 'POST' as const, url: `/webhooks/mpesa/${TEST_SECRETS.MPESA_CALLBACK_TOKEN}`, payload: JSON.stringify(darajaCallback(nul, 0)), headers: { 'content-type': 'application/json' } } },
      { label: 'payhero', request: { method: 'POST' as const, url: `/webhooks/payhero/${TEST_SECRETS.PAYHERO_CALLBACK_TOKEN}`, payload: JSON.stringify({ success: true, status: 'SUCCESS', reference: nul, amount: 1 }), headers: { 'content-type': 'application/json' } } },
      { label: 'order', request: (() => { const payload = JSON.stringify(orderBody('ws_CO_nul', { orderNumber: 'INV\u0000' })); return { method: 'PUT' as const, url: '/v1/orders/fuzz-nul', payload, headers: signed(payload) } })() },
      { label: 'registration', request: (() => { const payload = JSON.stringify({ type: 'stage', stage: 'duplicate_check', status: 'started', message: 'a\u0000b' }); return { method: 'POST' as const, url: '/v1/registrations/fuzz-nul/events', payload, headers: signed(payload) } })() }
    ]
    for (const { label, request } of payloads) {
      const res = await app.inject(request)
      tried++
      t.ok(res.statusCode >= 400 && res.statusCode < 500, `${label}: ${res.statusCode} ${res.body.slice(0, 200)}`)
    }
  })

  await t.test('a path parameter over the router limit answers the contract error body', async (t) => {
    const res = await app.inject({ method: 'PUT', url: `/v1/orders/${'x'.repeat(600)}`, payload: '{}', headers: { 'content-type': 'application/json' } })
    tried++
    t.ok(res.statusCode < 500, 'not a 5xx')
    t.match(res.json(), { success: false, code: /^HERALD_ERR_/ }, `the error body (got ${res.body.slice(0, 120)})`)
  })

  t.comment(JSON.stringify({ tried, rejectedChecked, statuses }))
  recordFigures('ingest-fuzz', { inputsTried: tried, rejectedAndCheckedUnchanged: rejectedChecked, statuses })
})
