// The gateway's HTTP metrics: held long-polls and SSE streams observed as holds, refusals by reason.
import t from 'tap'
import { buildGateway, listen } from './helper.js'
import { ADMIN, SseReader, orderEvent, tokenFor, usePublisher, waitUntil } from './support.js'

const auth = { authorization: `Bearer ${ADMIN}` }

t.test('long-polls and SSE streams are counted as holds, not as request durations', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-hold', 1))
  const answer = app.inject({ url: '/api/orders/o-hold/wait?timeout=60000', headers: auth })
  await waitUntil(() => app.orderWaiters.size === 1, 'the waiter to be held')
  await publisher.publish(orderEvent('o-hold', 2, 'completed'))
  t.equal((await answer).statusCode, 200)

  const base = await listen(app)
  const sse = new SseReader(`${base}/api/registrations/updates/stream?registrationId=42`, { authorization: `Bearer ${tokenFor('registration', '42')}` })
  await sse.opened
  await sse.waitFor('connected', (reader) => reader.messages.length > 0)
  sse.close()
  await waitUntil(async () => /herald_gateway_http_hold_duration_seconds_count\{[^}]*route="\/api\/registrations\/updates\/stream"/.test((await app.inject({ url: '/metrics' })).body), 'the closed stream to be observed')

  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /herald_gateway_http_hold_duration_seconds_count\{[^}]*route="\/api\/orders\/:orderId\/wait",status_class="2xx"[^}]*\} 1/, 'the long-poll is a hold')
  t.match(metrics, /herald_gateway_http_requests_total\{route="\/api\/orders\/:orderId\/wait",method="GET",status_class="2xx"[^}]*\} 1/, 'and a request')
  t.notMatch(metrics, /herald_gateway_http_request_duration_seconds_count\{[^}]*route="\/api\/(orders\/:orderId\/wait|registrations\/updates\/stream)"/, 'neither is a slow request')
  t.match(metrics, /herald_gateway_stream_consumers_reading\{[^}]*\} 1/, 'its one shard consumer reads')
  t.match(metrics, /herald_gateway_build_info\{version="[^"]+",commit="unknown"/)
})

t.test('refused subscriptions are counted by reason', async (t) => {
  const { app } = await buildGateway(t)
  t.equal((await app.inject({ url: '/api/orders/o-1', headers: { authorization: 'Bearer not-a-token' } })).statusCode, 401)
  t.equal((await app.inject({ url: '/api/orders/o-1/wait?timeout=1', headers: { authorization: `Bearer ${tokenFor('order', 'o-2')}` } })).statusCode, 403)
  t.equal((await app.inject({ url: '/api/orders/o-missing', headers: auth })).statusCode, 404)
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /herald_gateway_requests_refused_total\{route="\/api\/orders\/:orderId",reason="bad_token"[^}]*\} 1/)
  t.match(metrics, /herald_gateway_requests_refused_total\{route="\/api\/orders\/:orderId\/wait",reason="forbidden"[^}]*\} 1/)
  t.match(metrics, /herald_gateway_requests_refused_total\{route="\/api\/orders\/:orderId",reason="not_found"[^}]*\} 1/)
})
