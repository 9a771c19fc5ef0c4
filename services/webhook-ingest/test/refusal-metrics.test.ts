// Every way a request is refused is counted under its reason and route, and HTTP traffic by status class.
import t from 'tap'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { buildIngest, fixture, orderBody, putOrder, signedHeaders } from './helper.js'

const PAYHERO_ROUTE = '/webhooks/payhero/:token'
const PAYHERO = `/webhooks/payhero/${TEST_SECRETS.PAYHERO_CALLBACK_TOKEN}`
const MPESA = `/webhooks/mpesa/${TEST_SECRETS.MPESA_CALLBACK_TOKEN}`
const JSON_TYPE = { 'content-type': 'application/json' }
const OTHER_SECRET = `whsec_${Buffer.from('not-the-configured-secret-012345').toString('base64')}`

/** The value of one series in Prometheus text, by name and the labels it must carry; 0 when absent. */
function seriesValue (text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}

t.test('each refusal reason is counted once, by route', async (t) => {
  const { app } = await buildIngest(t, { MPESA_ALLOWED_IPS: '196.201.214.0/24' })
  const orderJson = JSON.stringify(orderBody())
  const referenced = orderBody({ references: { checkoutRequestId: 'ws_CO_taken' } })
  t.equal((await putOrder(app, 'ord_first', referenced)).statusCode, 200)

  const cases = [
    { reason: 'bad_token', route: PAYHERO_ROUTE, status: 401, send: () => app.inject({ method: 'POST', url: '/webhooks/payhero/not-the-token', payload: '{}', headers: JSON_TYPE }) },
    { reason: 'bad_signature', route: '/v1/orders/:orderId', status: 401, send: () => app.inject({ method: 'PUT', url: '/v1/orders/ord_1', payload: orderJson, headers: signedHeaders(orderJson, { secret: OTHER_SECRET }) }) },
    { reason: 'stale_timestamp', route: '/v1/orders/:orderId', status: 401, send: () => app.inject({ method: 'PUT', url: '/v1/orders/ord_1', payload: orderJson, headers: signedHeaders(orderJson, { timestamp: new Date(Date.now() - 10 * 60_000) }) }) },
    { reason: 'ip_not_allowed', route: '/webhooks/mpesa/:token', status: 403, send: () => app.inject({ method: 'POST', url: MPESA, payload: fixture('daraja-stk-success'), headers: JSON_TYPE, remoteAddress: '8.8.8.8' }) },
    { reason: 'invalid_body', route: PAYHERO_ROUTE, status: 400, send: () => app.inject({ method: 'POST', url: PAYHERO, payload: '{"status": tru', headers: JSON_TYPE }) },
    { reason: 'too_large', route: PAYHERO_ROUTE, status: 413, send: () => app.inject({ method: 'POST', url: PAYHERO, payload: `{"pad":"${'x'.repeat(70 * 1024)}"}`, headers: JSON_TYPE }) },
    { reason: 'unsupported_media_type', route: PAYHERO_ROUTE, status: 415, send: () => app.inject({ method: 'POST', url: PAYHERO, payload: 'status=ok', headers: { 'content-type': 'text/plain' } }) },
    { reason: 'conflict', route: '/v1/orders/:orderId', status: 409, send: () => putOrder(app, 'ord_second', referenced) },
    { reason: 'invalid_request', route: '/v1/orders/:orderId', status: 400, send: () => app.inject({ method: 'PUT', url: `/v1/orders/${'o'.repeat(200)}`, payload: orderJson, headers: signedHeaders(orderJson) }) },
    { reason: 'no_route', route: 'unmatched', status: 404, send: () => app.inject({ method: 'POST', url: '/webhooks/stripe/abc', payload: '{}', headers: JSON_TYPE }) }
  ]
  for (const c of cases) {
    const res = await c.send()
    t.equal(res.statusCode, c.status, `${c.reason}: answered ${c.status} (${res.body.slice(0, 120)})`)
  }
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  for (const c of cases) {
    t.equal(seriesValue(metrics, 'herald_ingest_requests_refused_total', { route: c.route, reason: c.reason }), 1, `${c.reason} counted on ${c.route}`)
  }
  t.equal(seriesValue(metrics, 'herald_ingest_http_requests_total', { route: '/v1/orders/:orderId', method: 'PUT', status_class: '2xx' }), 1, 'the accepted order counted as 2xx')
  t.equal(seriesValue(metrics, 'herald_ingest_http_requests_total', { route: PAYHERO_ROUTE, method: 'POST', status_class: '4xx' }), 4, 'refused PayHero callbacks counted as 4xx')
  t.ok(seriesValue(metrics, 'herald_ingest_http_request_duration_seconds_count', { route: PAYHERO_ROUTE, status_class: '4xx' }) === 4, 'and timed')
  t.notMatch(metrics, TEST_SECRETS.PAYHERO_CALLBACK_TOKEN, 'route patterns only: no token in a label')
  t.match(metrics, /herald_ingest_build_info\{version="\d+\.\d+\.\d+",commit="unknown"[^}]*\} 1/, 'build info')
})

t.test('Postgres down: refusals counted as unavailable, the backlog left out rather than made up', async (t) => {
  const { app } = await buildIngest(t, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test', HERALD_BUILD_COMMIT: 'abc1234' })
  const callback = await app.inject({ method: 'POST', url: MPESA, payload: fixture('daraja-stk-success'), headers: JSON_TYPE })
  t.equal(callback.statusCode, 503)
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(seriesValue(metrics, 'herald_ingest_requests_refused_total', { route: '/webhooks/mpesa/:token', reason: 'unavailable' }), 1)
  t.match(metrics, /herald_ingest_database_up\{[^}]*\} 0/, 'database_up says Postgres is unreachable')
  t.notMatch(metrics, /herald_ingest_outbox_backlog\{/, 'no backlog value when it is unknown')
  t.notMatch(metrics, / -1$/m, 'no -1 sentinel anywhere')
  t.match(metrics, /herald_ingest_build_info\{[^}]*commit="abc1234"/)
})

t.test('Postgres up: database_up 1 and the backlog reported', async (t) => {
  const { app } = await buildIngest(t)
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /herald_ingest_database_up\{[^}]*\} 1/)
  t.match(metrics, /herald_ingest_outbox_backlog\{[^}]*\} 0/)
})
