// Targeted hostile input: oversized and deeply nested bodies, replayed signatures outside the window,
// forged, expired and wrong-entity tokens, spoofed X-Forwarded-For, and attempts to inject SSE lines.
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { signSubscribeToken } from '@herald/contracts/subscribe-token'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { signStandardWebhook } from '@herald/producer'
import { buildGatewayApp, buildIngestApp } from '../support/apps.js'
import { recordFigures, tableCounts, usePostgres, useStorage } from '../support/storage.js'
import { INTERNAL_SECRET, MPESA_PATH, darajaCallback, orderBody, readSse } from '../support/traffic.js'
import { until } from '../support/processes.js'

const json = { 'content-type': 'application/json' }

t.test('hostile input', async (t) => {
  const storage = await useStorage(t, 'hostile')
  const pool = usePostgres(t, storage)
  const ingest = await buildIngestApp(t, storage, { MPESA_ALLOWED_IPS: '196.201.214.0/24' })
  const gateway = await buildGatewayApp(t, storage)
  const signed = (payload: string, options: { id?: string, timestamp?: Date } = {}) => ({ ...json, ...signStandardWebhook(INTERNAL_SECRET, payload, options) })
  let tried = 0
  const inject = async (options: InjectOptions) => { tried++; return ingest.inject(options) }

  const orderPayload = JSON.stringify(orderBody('ws_CO_hostile'))
  const order = await inject({ method: 'PUT', url: '/v1/orders/h-order', payload: orderPayload, headers: signed(orderPayload) })
  t.equal(order.statusCode, 200, 'a real order to attack')
  const token = order.json().subscribeToken as string

  t.test('oversized bodies are a 413 with the error body, before any work', async (t) => {
    const before = await tableCounts(pool)
    const big = JSON.stringify({ type: 'stage', stage: 'x', status: 'started', message: 'm'.repeat(70 * 1024) })
    for (const request of [
      { method: 'POST' as const, url: '/v1/registrations/h-big/events', payload: big, headers: signed(big) },
      { method: 'POST' as const, url: `/webhooks/payhero/${TEST_SECRETS.PAYHERO_CALLBACK_TOKEN}`, payload: big, headers: json },
      { method: 'PUT' as const, url: '/v1/orders/h-big', payload: big, headers: signed(big) }
    ]) {
      const res = await inject(request)
      t.equal(res.statusCode, 413, `${request.url}: 413`)
      t.match(res.json(), { success: false, code: /^HERALD_ERR_/ })
    }
    t.same(await tableCounts(pool), before, 'nothing written')
  })

  t.test('deeply nested bodies are refused or stored, never a 5xx', async (t) => {
    for (const depth of [100, 1000, 10_000, 30_000]) {
      const nested = '['.repeat(depth) + ']'.repeat(depth)
      const registration = `{"type":"stage","stage":"nested","status":"started","details":{"x":${nested}}}`
      const africa = `{"success":true,"status":"SUCCESS","reference":"h-ref-${depth}","amount":1,"callback_urls":${nested}}`
      for (const request of [
        { method: 'POST' as const, url: `/v1/registrations/h-deep-${depth}/events`, payload: registration, headers: signed(registration) },
        { method: 'POST' as const, url: `/webhooks/payhero/${TEST_SECRETS.PAYHERO_CALLBACK_TOKEN}`, payload: africa, headers: json }
      ]) {
        if (request.payload.length > 64 * 1024) continue
        const res = await inject(request)
        t.ok(res.statusCode < 500, `depth ${depth} ${request.url.split('/')[1]}: ${res.statusCode} ${res.body.slice(0, 160)}`)
      }
    }
  })

  t.test('Standard Webhooks messages outside the 5 minute window are refused, even correctly signed', async (t) => {
    const payload = JSON.stringify({ type: 'stage', stage: 'duplicate_check', status: 'started' })
    const before = await tableCounts(pool)
    for (const offsetMs of [-6 * 60_000, -3600_000, 6 * 60_000]) {
      const res = await inject({ method: 'POST', url: '/v1/registrations/h-replay/events', payload, headers: signed(payload, { timestamp: new Date(Date.now() + offsetMs) }) })
      t.equal(res.statusCode, 401, `timestamp ${offsetMs / 60_000} min: 401`)
    }
    // The captured message replayed within the window after the body is changed: the signature fails.
    const headers = signed(payload)
    const tampered = JSON.stringify({ type: 'final', status: 'APPROVED', message: 'forged' })
    t.equal((await inject({ method: 'POST', url: '/v1/registrations/h-replay/events', payload: tampered, headers })).statusCode, 401, 'a tampered body is refused')
    t.same(await tableCounts(pool), before, 'nothing written')
  })

  t.test('a spoofed X-Forwarded-For does not pass the M-PESA allow-list without a trusted proxy', async (t) => {
    const before = await tableCounts(pool)
    const res = await inject({ method: 'POST', url: MPESA_PATH, payload: JSON.stringify(darajaCallback('ws_CO_hostile', 0)), headers: { ...json, 'x-forwarded-for': '196.201.214.200' } })
    t.equal(res.statusCode, 403, 'refused: the peer, not the header, is checked')
    t.same(await tableCounts(pool), before, 'nothing written')
  })

  t.test('subscribe tokens: forged, expired, wrong entity, wrong scope', async (t) => {
    const forged = signSubscribeToken('not-the-secret-0123456789abcdef', { scope: 'order', id: 'h-order', exp: Date.now() + 60_000 })
    const expired = signSubscribeToken(TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET, { scope: 'order', id: 'h-order', exp: Date.now() - 1000 })
    const otherOrder = signSubscribeToken(TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET, { scope: 'order', id: 'h-other', exp: Date.now() + 60_000 })
    const registrationScope = signSubscribeToken(TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET, { scope: 'registration', id: 'h-order', exp: Date.now() + 60_000 })
    // The payload of a good token with its id swapped, keeping the signature.
    const [prefix, , signature] = token.split('.')
    const swapped = `${prefix}.${Buffer.from(JSON.stringify({ s: 'order', i: 'h-other', e: Date.now() + 60_000 })).toString('base64url')}.${signature}`
    await until(async () => (await gateway.inject({ method: 'GET', url: '/api/orders/h-order', headers: { authorization: `Bearer ${token}` } })).statusCode === 200, 'the order to be readable')
    const cases: Array<[string, string, number[]]> = [
      ['forged', forged, [401]], ['expired', expired, [401]], ['another order\'s', otherOrder, [403]],
      ['a registration token for the same id', registrationScope, [403]], ['a re-signed payload', swapped, [401]], ['no', '', [401]]
    ]
    for (const [name, bad, wanted] of cases) {
      for (const url of ['/api/orders/h-order', '/api/orders/h-order/wait?timeout=1000', '/api/orders/h-order/events']) {
        tried++
        const res = await gateway.inject({ method: 'GET', url, headers: bad === '' ? {} : { authorization: `Bearer ${bad}` } })
        t.ok(wanted.includes(res.statusCode), `${name} token on ${url}: ${res.statusCode}`)
        t.notMatch(res.body, /jane\.doe@example\.com/, 'never the customer')
      }
    }
    tried++
    const admin = await gateway.inject({ method: 'GET', url: '/api/registrations/updates/stream', headers: { authorization: `Bearer ${token}` } })
    t.equal(admin.statusCode, 403, 'an order token does not open the all-registrations feed')
  })

  t.test('nothing a client sends ends up as its own line in an SSE stream', async (t) => {
    const url = await gateway.listen({ port: 0, host: '127.0.0.1' })
    for (const lastEventId of ['1\nevent: admin', '1%0Adata: {"type":"update"}', 'id: 9\r\ndata: x', '0\u2028x', '1\r\n\r\ndata: {}']) {
      tried++
      const { body } = await readSse(`${url}/api/orders/h-order/events?lastEventId=${encodeURIComponent(lastEventId)}`, { authorization: `Bearer ${token}` })
      const lines = body.split('\n').filter((line) => line !== '')
      // Names are URI-encoded: a raw U+2028 in a test name would break the TAP output itself.
      t.ok(lines.every((line) => /^(?:id: \d+|retry: \d+|data: \{.*\})$/.test(line)), `${encodeURIComponent(lastEventId)}: only Herald's lines`)
      t.match(body, /"type":"reset","reason":"malformed_id"/, 'a malformed id gets a reset, not an echo')
    }
  })

  t.teardown(() => recordFigures('hostile-input', { inputsTried: tried }))
})
