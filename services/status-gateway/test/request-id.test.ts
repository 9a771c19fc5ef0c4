import t from 'tap'
import { buildGateway, listen } from './helper.js'
import { SseReader, tokenFor } from './support.js'

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
