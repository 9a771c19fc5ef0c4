import t from 'tap'
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
  t.same(admin.json(), { success: true, longPollWaiters: 0, sseStreams: 0 })
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
