import t from 'tap'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { buildIngest, fixture, fixtureJson, orderBody, signedHeaders } from './helper.js'
import { loadIngestConfig } from '../src/config.js'

const PAYHERO = `/webhooks/payhero/${TEST_SECRETS.PAYHERO_CALLBACK_TOKEN}`
const MPESA = `/webhooks/mpesa/${TEST_SECRETS.MPESA_CALLBACK_TOKEN}`
const JSON_TYPE = { 'content-type': 'application/json' }
const OTHER_SECRET = `whsec_${Buffer.from('not-the-configured-secret-012345').toString('base64')}`

function mutate (name: string, change: (body: any) => void): string {
  const body = fixtureJson(name)
  change(body)
  return JSON.stringify(body)
}

interface BadInput {
  name: string
  method: 'POST' | 'PUT' | 'GET'
  url: string
  payload?: string
  headers?: Record<string, string>
  status: number
  code: string
  error?: RegExp
}

const orderJson = JSON.stringify(orderBody())
const tenMinutesAgo = new Date(Date.now() - 10 * 60_000)

const cases: BadInput[] = [
  { name: 'PayHero: bad JSON', method: 'POST', url: PAYHERO, payload: '{"status": tru', headers: JSON_TYPE, status: 400, code: 'HERALD_ERR_BAD_JSON' },
  { name: 'M-PESA: bad JSON', method: 'POST', url: MPESA, payload: '{', headers: JSON_TYPE, status: 400, code: 'HERALD_ERR_BAD_JSON' },
  { name: 'M-PESA: empty body', method: 'POST', url: MPESA, payload: '', headers: JSON_TYPE, status: 400, code: 'HERALD_ERR_BAD_JSON' },
  { name: 'orders: bad JSON', method: 'PUT', url: '/v1/orders/ord_1', payload: '{"a":', headers: signedHeaders('{"a":'), status: 400, code: 'HERALD_ERR_BAD_JSON' },
  {
    name: 'PayHero v2: ResultCode not an integer',
    method: 'POST',
    url: PAYHERO,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/response\/ResultCode/,
    payload: mutate('payhero-legacy-success', (b) => { b.response.ResultCode = 'zero' })
  },
  {
    name: 'PayHero v2: missing CheckoutRequestID',
    method: 'POST',
    url: PAYHERO,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/response\/CheckoutRequestID/,
    payload: mutate('payhero-legacy-success', (b) => { delete b.response.CheckoutRequestID })
  },
  {
    name: 'PayHero Africa: missing reference',
    method: 'POST',
    url: PAYHERO,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/reference/,
    payload: mutate('payhero-africa-success', (b) => { delete b.reference })
  },
  {
    name: 'PayHero Africa: no usable reference at all',
    method: 'POST',
    url: PAYHERO,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /reference/,
    payload: mutate('payhero-africa-success', (b) => { b.reference = ' '; delete b.external_reference })
  },
  {
    name: 'Daraja: missing CheckoutRequestID',
    method: 'POST',
    url: MPESA,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/Body\/stkCallback\/CheckoutRequestID/,
    payload: mutate('daraja-stk-success', (b) => { delete b.Body.stkCallback.CheckoutRequestID })
  },
  {
    name: 'orders: missing orderNumber',
    method: 'PUT',
    url: '/v1/orders/ord_1',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/orderNumber/,
    ...signed(JSON.stringify({ ...orderBody(), orderNumber: undefined }))
  },
  {
    name: 'orders: unknown property',
    method: 'PUT',
    url: '/v1/orders/ord_1',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/discount/,
    ...signed(JSON.stringify({ ...orderBody(), discount: 5 }))
  },
  {
    name: 'orders: bad order id in the path',
    method: 'PUT',
    url: '/v1/orders/%20bad',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /orderId/,
    ...signed(orderJson)
  },
  {
    name: 'registrations: unknown final status',
    method: 'POST',
    url: '/v1/registrations/42/events',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /^body\/status/,
    ...signed(JSON.stringify({ type: 'final', status: 'NOPE', message: 'x' }))
  },
  {
    name: 'registrations: bad stage name',
    method: 'POST',
    url: '/v1/registrations/42/events',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /^body\/stage must match/,
    ...signed(JSON.stringify({ type: 'stage', stage: 'Bad Stage!', status: 'started' }))
  },
  { name: 'PayHero: bad token', method: 'POST', url: '/webhooks/payhero/wrong-token', payload: fixture('payhero-legacy-success'), headers: JSON_TYPE, status: 401, code: 'HERALD_ERR_UNAUTHORIZED' },
  { name: 'M-PESA: the PayHero token', method: 'POST', url: `/webhooks/mpesa/${TEST_SECRETS.PAYHERO_CALLBACK_TOKEN}`, payload: fixture('daraja-stk-success'), headers: JSON_TYPE, status: 401, code: 'HERALD_ERR_UNAUTHORIZED' },
  { name: 'orders: no signature', method: 'PUT', url: '/v1/orders/ord_1', payload: orderJson, headers: JSON_TYPE, status: 401, code: 'HERALD_ERR_UNAUTHORIZED', error: /missing/ },
  { name: 'orders: signed with an unknown secret', method: 'PUT', url: '/v1/orders/ord_1', payload: orderJson, headers: signedHeaders(orderJson, { secret: OTHER_SECRET }), status: 401, code: 'HERALD_ERR_UNAUTHORIZED' },
  { name: 'orders: expired signature', method: 'PUT', url: '/v1/orders/ord_1', payload: orderJson, headers: signedHeaders(orderJson, { timestamp: tenMinutesAgo }), status: 401, code: 'HERALD_ERR_UNAUTHORIZED', error: /tolerance/ },
  {
    name: 'orders: replayed signature over another body',
    method: 'PUT',
    url: '/v1/orders/ord_1',
    payload: JSON.stringify(orderBody({ totalAmount: 1 })),
    headers: signedHeaders(orderJson),
    status: 401,
    code: 'HERALD_ERR_UNAUTHORIZED'
  },
  {
    name: 'registrations: expired signature',
    method: 'POST',
    url: '/v1/registrations/42/events',
    status: 401,
    code: 'HERALD_ERR_UNAUTHORIZED',
    payload: '{"type":"stage","stage":"x","status":"started"}',
    headers: signedHeaders('{"type":"stage","stage":"x","status":"started"}', { timestamp: tenMinutesAgo })
  },
  {
    name: 'PayHero: body over 64 KiB',
    method: 'POST',
    url: PAYHERO,
    headers: JSON_TYPE,
    status: 413,
    code: 'HERALD_ERR_BODY_TOO_LARGE',
    payload: mutate('payhero-legacy-success', (b) => { b.forward_url = 'x'.repeat(70 * 1024) })
  },
  { name: 'orders: body over 64 KiB', method: 'PUT', url: '/v1/orders/ord_1', status: 413, code: 'HERALD_ERR_BODY_TOO_LARGE', ...signed(' '.repeat(65 * 1024) + orderJson) },
  {
    name: 'M-PESA: a NUL character in a string (Postgres cannot store it)',
    method: 'POST',
    url: MPESA,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/Body\/stkCallback\/CheckoutRequestID contains a NUL/,
    payload: mutate('daraja-stk-success', (b) => { b.Body.stkCallback.CheckoutRequestID = 'ws_CO_\u0000' })
  },
  {
    name: 'registrations: a NUL character in a key of details',
    method: 'POST',
    url: '/v1/registrations/42/events',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /NUL/,
    ...signed(JSON.stringify({ type: 'final', status: 'APPROVED', message: 'ok', details: { 'a\u0000b': 1 } }))
  },
  // Unpaired UTF-16 surrogates: Postgres refuses them in text and jsonb, so each route names the field instead of a 500.
  {
    name: 'M-PESA: an unpaired surrogate in ResultDesc',
    method: 'POST',
    url: MPESA,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/Body\/stkCallback\/ResultDesc contains an unpaired UTF-16 surrogate/,
    payload: mutate('daraja-stk-success', (b) => { b.Body.stkCallback.ResultDesc = 'x\ud800y' })
  },
  {
    name: 'PayHero v2: an unpaired low surrogate in MpesaReceiptNumber',
    method: 'POST',
    url: PAYHERO,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/response\/MpesaReceiptNumber contains an unpaired UTF-16 surrogate/,
    payload: mutate('payhero-legacy-success', (b) => { b.response.MpesaReceiptNumber = 'QK\udc00' })
  },
  {
    name: 'PayHero Africa: an unpaired surrogate in an extra field the schema allows',
    method: 'POST',
    url: PAYHERO,
    headers: JSON_TYPE,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/message contains an unpaired UTF-16 surrogate/,
    payload: mutate('payhero-africa-success', (b) => { b.message = '\ud83d' })
  },
  {
    name: 'orders: an unpaired surrogate in the customer\'s name',
    method: 'PUT',
    url: '/v1/orders/ord_1',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/customer\/firstName contains an unpaired UTF-16 surrogate/,
    ...signed(JSON.stringify(orderBody({ customer: { email: 'jane@example.com', firstName: 'Ja\ud800ne', lastName: 'Doe' } })))
  },
  {
    name: 'registrations: an unpaired surrogate in the message',
    method: 'POST',
    url: '/v1/registrations/42/events',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/message contains an unpaired UTF-16 surrogate/,
    ...signed(JSON.stringify({ type: 'final', status: 'APPROVED', message: 'x\ud800y' }))
  },
  {
    name: 'registrations: an unpaired surrogate in a key of details',
    method: 'POST',
    url: '/v1/registrations/42/events',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/details has a key with an unpaired UTF-16 surrogate/,
    ...signed(JSON.stringify({ type: 'final', status: 'APPROVED', message: 'ok', details: { 'a\udfffb': 1 } }))
  },
  {
    name: 'orders: an amount that would be stored as 0 (0.004)',
    method: 'PUT',
    url: '/v1/orders/ord_1',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/totalAmount must have at most 2 decimals/,
    ...signed(JSON.stringify(orderBody({ totalAmount: 0.004 })))
  },
  {
    name: 'orders: an amount with more decimals than its currency has (JPY)',
    method: 'PUT',
    url: '/v1/orders/ord_1',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /body\/totalAmount must have at most 0 decimals in JPY/,
    ...signed(JSON.stringify(orderBody({ totalAmount: 100.5, currency: 'JPY' })))
  },
  {
    name: 'registrations: details nested 10,000 levels deep',
    method: 'POST',
    url: '/v1/registrations/42/events',
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /nested deeper than 32 levels/,
    ...signed(`{"type":"final","status":"APPROVED","message":"ok","details":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`)
  },
  {
    name: 'orders: an order id longer than the router accepts',
    method: 'PUT',
    url: `/v1/orders/${'o'.repeat(600)}`,
    status: 414,
    code: 'HERALD_ERR_VALIDATION',
    error: /longer than/,
    ...signed(orderJson)
  },
  {
    name: 'orders: an order id over the 128-character limit',
    method: 'PUT',
    url: `/v1/orders/${'o'.repeat(200)}`,
    status: 400,
    code: 'HERALD_ERR_VALIDATION',
    error: /orderId/,
    ...signed(orderJson)
  },
  { name: 'PayHero: not JSON', method: 'POST', url: PAYHERO, payload: 'status=ok', headers: { 'content-type': 'text/plain' }, status: 415, code: 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'unknown route', method: 'POST', url: '/webhooks/stripe/abc', payload: '{}', headers: JSON_TYPE, status: 404, code: 'HERALD_ERR_ROUTE_NOT_FOUND' },
  { name: 'unknown method', method: 'GET', url: '/v1/orders/ord_1', status: 404, code: 'HERALD_ERR_ROUTE_NOT_FOUND' }
]

function signed (payload: string) {
  return { payload, headers: signedHeaders(payload) }
}

const TABLES = ['orders', 'callbacks', 'parked_callbacks', 'review_items', 'outbox', 'webhook_receipts', 'registrations', 'registration_events']

t.test('bad inputs are answered with the error body and write nothing', async (t) => {
  const { app } = await buildIngest(t)
  for (const c of cases) {
    const res = await app.inject({ method: c.method, url: c.url, payload: c.payload, headers: c.headers })
    t.equal(res.statusCode, c.status, `${c.name}: ${c.status}`)
    const body = res.json()
    t.match(body, { success: false, code: c.code, error: String }, `${c.name}: error body with ${c.code}`)
    if (c.error !== undefined) t.match(body.error, c.error, `${c.name}: names the problem (${body.error})`)
  }
  for (const table of TABLES) {
    const { rows } = await app.pgPool.query(`select count(*)::int as n from ${table}`)
    t.equal(rows[0].n, 0, `nothing written to ${table}`)
  }
})

t.test('text with paired surrogates (emoji) and other scripts is stored and served as sent', async (t) => {
  const { app } = await buildIngest(t)
  const message = 'Approved 🎉 — Jürgen, 山田, مرحبا'
  const payload = JSON.stringify({ type: 'final', status: 'APPROVED', message, details: { '✅': '👍🏽' } })
  const res = await app.inject({ method: 'POST', url: '/v1/registrations/emoji/events', payload, headers: signedHeaders(payload) })
  t.equal(res.statusCode, 200, res.body)
  const { rows } = await app.pgPool.query('select message, details from registration_events where registration_id = $1', ['emoji'])
  t.same(rows.map((row) => [row.message, row.details]), [[message, { '✅': '👍🏽' }]])
})

t.test('Postgres down: 503, so the provider retries', async (t) => {
  const { app } = await buildIngest(t, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' })
  const callback = await app.inject({ method: 'POST', url: MPESA, payload: fixture('daraja-stk-success'), headers: JSON_TYPE })
  t.equal(callback.statusCode, 503)
  t.match(callback.json(), { success: false, code: 'HERALD_ERR_UNAVAILABLE' })
  const order = await app.inject({ method: 'PUT', url: '/v1/orders/ord_1', payload: orderJson, headers: signedHeaders(orderJson) })
  t.equal(order.statusCode, 503)
  t.match(order.json(), { code: 'HERALD_ERR_UNAVAILABLE' })
})

t.test('the M-PESA allow-list checks the caller, believing X-Forwarded-For only from trusted proxies', async (t) => {
  const payload = fixture('daraja-stk-cancelled')
  const trusting = await buildIngest(t, { MPESA_ALLOWED_IPS: '196.201.214.0/24, 196.201.213.114', TRUSTED_PROXIES: '127.0.0.1' })
  const viaProxy = (xff: string) => trusting.app.inject({ method: 'POST', url: MPESA, payload, headers: { ...JSON_TYPE, 'x-forwarded-for': xff } })
  t.equal((await viaProxy('196.201.214.200')).statusCode, 200, 'allowed subnet through a trusted proxy')
  t.equal((await viaProxy('196.201.213.114')).statusCode, 200, 'allowed address')
  t.equal((await viaProxy('196.201.214.200, 8.8.8.8')).statusCode, 403, 'the right-most untrusted hop counts, not what the client prepended')
  const direct = await trusting.app.inject({ method: 'POST', url: MPESA, payload, headers: JSON_TYPE, remoteAddress: '8.8.8.8' })
  t.equal(direct.statusCode, 403)
  t.match(direct.json(), { code: 'HERALD_ERR_FORBIDDEN' })

  const untrusting = await buildIngest(t, { MPESA_ALLOWED_IPS: '196.201.214.0/24' })
  const spoofed = await untrusting.app.inject({ method: 'POST', url: MPESA, payload, headers: { ...JSON_TYPE, 'x-forwarded-for': '196.201.214.200' } })
  t.equal(spoofed.statusCode, 403, 'X-Forwarded-For from an untrusted peer is ignored')
  const fromSafaricom = await untrusting.app.inject({ method: 'POST', url: MPESA, payload, headers: JSON_TYPE, remoteAddress: '196.201.214.9' })
  t.equal(fromSafaricom.statusCode, 200)
  const payhero = await untrusting.app.inject({ method: 'POST', url: PAYHERO, payload: fixture('payhero-legacy-cancelled'), headers: JSON_TYPE })
  t.equal(payhero.statusCode, 200, 'the allow-list applies to M-PESA only')
})

t.test('TRUSTED_PROXIES: only a listed proxy\'s X-Forwarded-For is believed; a bad entry stops the start', async (t) => {
  const payload = fixture('daraja-stk-cancelled')
  const { app } = await buildIngest(t, { MPESA_ALLOWED_IPS: '196.201.214.0/24', TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7' })
  const from = (remoteAddress: string, xff: string) => app.inject({ method: 'POST', url: MPESA, payload, headers: { ...JSON_TYPE, 'x-forwarded-for': xff }, remoteAddress })
  t.equal((await from('10.20.30.40', '196.201.214.9')).statusCode, 200, 'a listed subnet\'s X-Forwarded-For names the caller')
  t.equal((await from('192.0.2.7', '196.201.214.9')).statusCode, 200, 'a listed address too')
  const spoofed = await from('8.8.8.8', '196.201.214.9')
  t.equal(spoofed.statusCode, 403, 'a spoofed X-Forwarded-For from a peer not listed changes nothing')
  t.match(spoofed.json(), { code: 'HERALD_ERR_FORBIDDEN', error: /8\.8\.8\.8/ })
  t.throws(() => loadIngestConfig({ ...TEST_SECRETS, DATABASE_URL: 'postgres://x/y', TRUSTED_PROXIES: '10.0.0.0/8, proxy.local' }), /TRUSTED_PROXIES/)
  t.throws(() => loadIngestConfig({ ...TEST_SECRETS, DATABASE_URL: 'postgres://x/y', TRUSTED_PROXIES: '10.0.0.0/33' }), /TRUSTED_PROXIES/)
})
