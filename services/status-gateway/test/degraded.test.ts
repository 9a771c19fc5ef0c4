import t from 'tap'
import { freePort } from '@herald/service-kit/testing'
import { buildGateway, listen } from './helper.js'
import { ADMIN, SseReader, getJson, insertOrder, orderEvent, orderSnapshot, startRedis, stopRedis, usePublisher, waitUntil } from './support.js'

const auth = { authorization: `Bearer ${ADMIN}` }

t.test('with Redis stopped long-polls answer from Postgres; when it returns events flow again without a restart', async (t) => {
  const port = await freePort()
  let redis = await startRedis(port)
  t.teardown(() => stopRedis(redis))
  const url = `redis://127.0.0.1:${port}`
  const { app, prefix, schema } = await buildGateway(t, { REDIS_URL: url, LONGPOLL_DB_RECHECK_MS: '200', SSE_RETRY_MS: '2500' })
  const { publisher } = usePublisher(t, prefix, { url })
  const updateOrder = await insertOrder(t, schema, orderSnapshot('o-down', 1))
  await publisher.publish(orderEvent('o-down', 1))
  const base = await listen(app)

  const sse = new SseReader(`${base}/api/orders/o-down/events`, auth)
  await sse.waitFor('connected', (r) => r.messages.length > 0)
  const held = getJson(`${base}/api/orders/o-down/wait?timeout=60000`, auth)
  await waitUntil(() => app.orderWaiters.size === 1, 'the long-poll to be held')

  await stopRedis(redis)
  await sse.waitFor('the stream to end', (r) => r.ended)
  t.match(sse.ofType('closing')[0], { retry: 2500, data: { type: 'closing', reason: 'redis_unavailable', retryMs: 2500 } })
  const ready = await app.inject({ url: '/readyz' })
  t.equal(ready.statusCode, 200, 'degraded, not out of rotation: long-polls still answer')
  t.match(ready.json(), { status: 'degraded', checks: { redis: 'down', postgres: 'ok' } })
  const refused = await app.inject({ url: '/api/orders/o-down/events', headers: auth })
  t.equal(refused.statusCode, 503, 'no new SSE stream without Redis')

  // The ingest commits to Postgres (its outbox waits for Redis): the held long-poll sees it there.
  await updateOrder({ paymentStatus: 'completed', status: 'paid', outcome: 'completed', resultCode: 0, receipt: 'QKX9', version: 2 })
  const answer = await held
  t.match(answer.body, { orderId: 'o-down', paymentStatus: 'completed', version: 2, timedOut: false })
  const fresh = await getJson(`${base}/api/orders/o-down/wait?since=2&timeout=300`, auth)
  t.match(fresh.body, { version: 2, timedOut: false }, 'a final order answers at once from Postgres')
  const snapshot = await app.inject({ url: '/api/orders/o-down', headers: auth })
  t.match(snapshot.json(), { paymentStatus: 'completed', payment: { receipt: 'QKX9' } })

  // Redis comes back empty (no persistence): the group is re-created and new events are delivered.
  redis = await startRedis(port)
  await waitUntil(() => app.redis.status === 'ready' && app.streamConsumers.connected, 'the gateway to reconnect', 30_000)
  await publisher.publish(orderEvent('o-back', 1))
  const again = getJson(`${base}/api/orders/o-back/wait?timeout=60000`, auth)
  await waitUntil(() => app.orderWaiters.size === 1, 'a new long-poll to be held')
  await publisher.publish(orderEvent('o-back', 2, 'completed'))
  t.match((await again).body, { orderId: 'o-back', paymentStatus: 'completed', version: 2, timedOut: false })
  const ok = await app.inject({ url: '/readyz' })
  t.equal(ok.statusCode, 200)
})
