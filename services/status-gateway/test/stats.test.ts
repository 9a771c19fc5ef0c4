import t from 'tap'
import type { GatewayActivityPoint, GatewayStatsResponse } from '@herald/contracts'
import { buildGateway, listen } from './helper.js'
import { ADMIN, SseReader, orderEvent, tokenFor, usePublisher, waitUntil } from './support.js'

t.test('/api/stats needs the admin token, anonymous mode or not', async (t) => {
  const { app } = await buildGateway(t, { GATEWAY_ANONYMOUS: 'true' })
  const anonymous = await app.inject({ method: 'GET', url: '/api/stats' })
  t.equal(anonymous.statusCode, 401)
  t.match(anonymous.json(), { success: false, code: 'HERALD_ERR_UNAUTHORIZED', error: /admin token/ })
  const subscriber = await app.inject({ method: 'GET', url: '/api/stats', headers: { authorization: `Bearer ${tokenFor('order', 'o-1')}` } })
  t.equal(subscriber.statusCode, 403, 'a subscribe token for one order does not open it')
  const bad = await app.inject({ method: 'GET', url: '/api/stats?token=not-a-token' })
  t.equal(bad.statusCode, 401)
  const admin = await app.inject({ method: 'GET', url: '/api/stats', headers: { authorization: `Bearer ${ADMIN}` } })
  t.equal(admin.statusCode, 200)
  t.match(admin.json(), { success: true, longPollWaiters: 0, sseStreams: 0, backendEndpoints: [], activity: { stepSeconds: 1, windowSeconds: 120, points: Array } })
})

t.test('/api/stats counts the long-polls held and the SSE streams open on this replica', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const stats = async () => (await app.inject({ method: 'GET', url: `/api/stats?token=${ADMIN}` })).json()

  await publisher.publish(orderEvent('o-stats', 1))
  const held = new AbortController()
  t.teardown(() => held.abort())
  const waits = [1, 2].map(() => fetch(`${base}/api/orders/o-stats/wait?timeout=60000&token=${ADMIN}`, { signal: held.signal }).then(async (res) => await res.json() as { paymentStatus: string }))
  const feed = new SseReader(`${base}/api/orders/updates/stream?token=${ADMIN}`)
  t.teardown(() => feed.close())
  const one = new SseReader(`${base}/api/orders/o-stats/events?token=${ADMIN}`)
  t.teardown(() => one.close())
  await waitUntil(async () => {
    const body = await stats()
    return body.longPollWaiters === 2 && body.sseStreams === 2
  }, 'two long-polls and two streams counted')

  await publisher.publish(orderEvent('o-stats', 2, 'completed'))
  const answers = await Promise.all(waits)
  t.same(answers.map((answer) => answer.paymentStatus), ['completed', 'completed'])
  feed.close()
  one.close()
  await waitUntil(async () => {
    const body = await stats()
    return body.longPollWaiters === 0 && body.sseStreams === 0
  }, 'the counts to fall back to zero')
  t.pass('answered long-polls and closed streams are no longer counted')
})

t.test('/api/stats lists the back-end endpoints an ingest replica served in the last minute, with their health', async (t) => {
  const { app } = await buildGateway(t)
  await app.pgPool.query(`insert into delivery_cursors (endpoint_id, url, position, lease_owner, lease_until, consecutive_failures, last_failure_at, last_error) values
    ('ep_live', 'https://user:secret@backend.example/herald?key=x', 0, 'ingest-1', now() + interval '20 seconds', 2, now(), 'HTTP 503'),
    ('ep_gone', 'https://old.example/herald', 0, 'ingest-1', now() - interval '1 hour', 0, null, null)`)
  await app.pgPool.query("insert into delivery_dead_letters (endpoint_id, outbox_id, entity_type, entity_id, payload, attempts) values ('ep_live', 7, 'order', 'o-1', '{}', 8)")
  const stats = (await app.inject({ method: 'GET', url: '/api/stats', headers: { authorization: `Bearer ${ADMIN}` } })).json()
  t.match(stats.backendEndpoints, [{ endpointId: 'ep_live', url: 'https://backend.example/herald', state: 'failing', consecutiveFailures: 2, deadLettered: 1, lastError: 'HTTP 503' }])
  t.equal(stats.backendEndpoints.length, 1, 'an endpoint no replica serves any more is left out')
})

t.test('/api/stats carries the recent events per second and delivery latency, from real deliveries', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const base = await listen(app)
  const feed = new SseReader(`${base}/api/orders/updates/stream?token=${ADMIN}`)
  t.teardown(() => feed.close())
  await waitUntil(async () => (await app.inject({ method: 'GET', url: `/api/stats?token=${ADMIN}` })).json().sseStreams === 1, 'the feed to open')

  for (let version = 1; version <= 5; version++) await publisher.publish(orderEvent('o-activity', version))
  let points: GatewayActivityPoint[] = []
  await waitUntil(async () => {
    const stats = await app.inject({ method: 'GET', url: '/api/stats', headers: { authorization: `Bearer ${ADMIN}` } })
    points = (stats.json() as GatewayStatsResponse).activity.points
    return points.reduce((sum, point) => sum + point.deliveries, 0) >= 5 && points.some((point) => point.eventsPerSecond > 0)
  }, 'the five events to be counted and delivered')
  const delivered = points.filter((point) => point.deliveries > 0)
  t.ok(delivered.every((point) => point.latencyP50Seconds !== null && point.latencyP99Seconds! >= point.latencyP50Seconds), 'a step with deliveries has p50 ≤ p99')
  t.ok(points.filter((point) => point.deliveries === 0).every((point) => point.latencyP50Seconds === null), 'a step without has none')
  t.ok(points.every((point, i) => i === 0 || point.at > points[i - 1]!.at), 'oldest first')
  t.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /herald_gateway_stream_events_total\{entity_type="order",[^}]*\} 5\n/, 'Prometheus has the event count too')
})
