import t from 'tap'
import { buildGateway, listen, logLines } from './helper.js'
import { ADMIN, SseReader, orderEvent, tokenFor, usePublisher, waitUntil } from './support.js'

t.test('JSON answers and SSE streams carry x-request-id', async (t) => {
  const { app } = await buildGateway(t)
  const answer = await app.inject({ url: '/api/orders/o-1', headers: { authorization: 'Bearer nope', 'x-request-id': 'req-gw-1' } })
  t.equal(answer.headers['x-request-id'], 'req-gw-1')
  const base = await listen(app)
  const sse = new SseReader(`${base}/api/registrations/updates/stream?registrationId=42`, { authorization: `Bearer ${tokenFor('registration', '42')}`, 'x-request-id': 'req-sse-1' })
  t.teardown(() => sse.close())
  await sse.opened
  t.equal(sse.headers['x-request-id'], 'req-sse-1', 'the hijacked SSE response too')
})

t.test('the gateway logs the id of the request that caused an event when a long-poll or an SSE stream delivers it', async (t) => {
  const { app, prefix } = await buildGateway(t, { LOG_LEVEL: 'debug' })
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-traced', 1))
  const answer = app.inject({ url: '/api/orders/o-traced/wait?timeout=60000', headers: { authorization: `Bearer ${ADMIN}`, 'x-request-id': 'req-waiting-page' } })
  await waitUntil(() => app.orderWaiters.size === 1, 'the waiter to be held')
  const base = await listen(app)
  const sse = new SseReader(`${base}/api/orders/o-traced/events`, { authorization: `Bearer ${ADMIN}` })
  t.teardown(() => sse.close())
  await sse.waitFor('connected', (reader) => reader.messages.length > 0)
  await publisher.publish({ ...orderEvent('o-traced', 2, 'completed'), requestId: 'req-callback-7' })
  t.equal((await answer).statusCode, 200)
  await sse.waitFor('the update', (reader) => reader.messages.some((message) => message.data.type === 'update'))
  const lines = () => logLines(app).map((line) => JSON.parse(line))
  await waitUntil(() => lines().some((line) => line.msg === 'SSE update written' && line.version === 2), 'the SSE delivery log line')
  const longPoll = lines().find((line) => line.msg === 'long-poll answered')
  t.match(longPoll, { reqId: 'req-waiting-page', orderId: 'o-traced', version: 2, outcome: 'notified', eventRequestId: 'req-callback-7' }, 'the long-poll line ties the waiting request to the callback')
  t.match(lines().find((line) => line.msg === 'SSE update written' && line.version === 2), { entityId: 'o-traced', eventRequestId: 'req-callback-7' })
})
