import t from 'tap'
import { buildGateway, listen } from './helper.js'
import { ADMIN, getJson, insertOrder, orderEvent, orderSnapshot, usePublisher, waitUntil } from './support.js'

const auth = { authorization: `Bearer ${ADMIN}` }

t.test('a long-poll on a final order answers at once', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-final', 1))
  await publisher.publish(orderEvent('o-final', 2, 'completed'))
  const res = await app.inject({ url: '/api/orders/o-final/wait?since=0&timeout=60000', headers: auth })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { success: true, orderId: 'o-final', paymentStatus: 'completed', status: 'paid', version: 2, timedOut: false, customer: { email: 'jane@example.com' } })
})

t.test('a long-poll whose since is older than the order answers at once', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-newer', 1))
  await publisher.publish(orderEvent('o-newer', 2, 'processing'))
  const res = await app.inject({ url: '/api/orders/o-newer/wait?since=1', headers: auth })
  t.match(res.json(), { paymentStatus: 'processing', version: 2, timedOut: false })
})

t.test('a held long-poll answers completed as soon as the event is published', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-held', 1))
  const answer = app.inject({ url: '/api/orders/o-held/wait?timeout=60000', headers: auth })
  await waitUntil(() => app.orderWaiters.size === 1, 'the waiter to be held')
  await publisher.publish(orderEvent('o-held', 2, 'completed'))
  const res = await answer
  t.match(res.json(), { paymentStatus: 'completed', version: 2, timedOut: false })
  t.equal(app.orderWaiters.size, 0, 'the index is empty again')
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_gateway_longpoll_outcomes_total\{outcome="notified",service="status-gateway"\} 1/)
  t.match(metrics.body, /herald_gateway_delivery_latency_seconds_count\{[^}]*channel="longpoll"[^}]*\} 1/)
  t.match(metrics.body, /herald_gateway_longpoll_requests_per_payment_count\{service="status-gateway"\} 1/)
})

t.test('a held long-poll on a cancelled payment answers cancelled', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-cancel', 1))
  const answer = app.inject({ url: '/api/orders/o-cancel/wait?since=1', headers: auth })
  await waitUntil(() => app.orderWaiters.size === 1, 'the waiter to be held')
  await publisher.publish(orderEvent('o-cancel', 2, 'cancelled'))
  t.match((await answer).json(), { paymentStatus: 'cancelled', status: 'cancelled', timedOut: false })
})

t.test('an event published while the state is being read is not lost (300 races)', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const rounds = 300
  const batch = 20
  let timedOut = 0
  for (let start = 0; start < rounds; start += batch) {
    await Promise.all(Array.from({ length: batch }, async (_, k) => {
      const orderId = `race-${start + k}`
      await publisher.publish(orderEvent(orderId, 1))
      // The wait and the change start together: whichever wins, the answer must be version 2.
      const [res] = await Promise.all([
        app.inject({ url: `/api/orders/${orderId}/wait?since=1&timeout=30000`, headers: auth }),
        publisher.publish(orderEvent(orderId, 2, 'completed'))
      ])
      const body = res.json()
      if (body.timedOut !== false || body.version !== 2) timedOut++
    }))
  }
  t.equal(timedOut, 0, 'no long-poll ran to its timeout')
  t.equal(app.orderWaiters.size, 0)
})

t.test('a long-poll with nothing new answers timedOut with the current state', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-quiet', 1))
  const res = await app.inject({ url: '/api/orders/o-quiet/wait?timeout=300', headers: auth })
  t.match(res.json(), { success: true, orderId: 'o-quiet', paymentStatus: 'pending', version: 1, timedOut: true })
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_gateway_longpoll_outcomes_total\{outcome="timed_out",service="status-gateway"\} 1/)
})

t.test('held long-polls share one deadline sweep: each answers at its own timeout, one answered early leaves it', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  for (const id of ['o-slow', 'o-fast', 'o-mid', 'o-event']) await publisher.publish(orderEvent(id, 1))
  const timed = async (id: string, timeout: number) => {
    const started = performance.now()
    const res = await app.inject({ url: `/api/orders/${id}/wait?timeout=${timeout}`, headers: auth })
    return { body: res.json(), elapsed: performance.now() - started, at: performance.now() }
  }
  // Registered slowest first, so the sweep's timer is re-armed for each earlier deadline.
  const slow = timed('o-slow', 1500)
  const fast = timed('o-fast', 300)
  const mid = timed('o-mid', 800)
  // The earliest deadline of all, answered by an event first: the sweep must not answer it again.
  const event = timed('o-event', 200)
  await waitUntil(() => app.orderWaiters.size === 4, 'four waiters to be held')
  await publisher.publish(orderEvent('o-event', 2, 'completed'))
  const answers = { slow: await slow, fast: await fast, mid: await mid, event: await event }
  t.match(answers.event.body, { orderId: 'o-event', paymentStatus: 'completed', timedOut: false })
  for (const [name, timeout] of [['fast', 300], ['mid', 800], ['slow', 1500]] as const) {
    const { body, elapsed } = answers[name]
    t.match(body, { orderId: `o-${name}`, version: 1, timedOut: true }, `${name} timed out with the current state`)
    t.ok(elapsed >= timeout, `${name} was not answered before its ${timeout} ms (${Math.round(elapsed)} ms)`)
    t.ok(elapsed < timeout + 400, `${name} was answered at its own deadline, not another's (${Math.round(elapsed)} ms)`)
  }
  t.ok(answers.fast.at < answers.mid.at && answers.mid.at < answers.slow.at, 'in deadline order')
  t.equal(app.orderWaiters.size, 0)
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_gateway_longpoll_outcomes_total\{outcome="timed_out",service="status-gateway"\} 3/)
  t.match(metrics.body, /herald_gateway_longpoll_outcomes_total\{outcome="notified",service="status-gateway"\} 1/)
})

t.test('a timeout outside the allowed range is a 400 naming it', async (t) => {
  const { app } = await buildGateway(t)
  const tooLong = await app.inject({ url: '/api/orders/o-x/wait?timeout=120001', headers: auth })
  t.equal(tooLong.statusCode, 400)
  t.match(tooLong.json(), { success: false, code: 'HERALD_ERR_VALIDATION', error: /timeout/ })
  const negative = await app.inject({ url: '/api/orders/o-x/wait?timeout=-5', headers: auth })
  t.equal(negative.statusCode, 400)
  const notNumber = await app.inject({ url: '/api/orders/o-x/wait?timeout=soon', headers: auth })
  t.equal(notNumber.statusCode, 400)
})

t.test('an unknown order is a 404 with the error body and leaves no waiter', async (t) => {
  const { app } = await buildGateway(t)
  const res = await app.inject({ url: '/api/orders/nobody/wait', headers: auth })
  t.equal(res.statusCode, 404)
  t.match(res.json(), { success: false, code: 'HERALD_ERR_NOT_FOUND', error: /nobody/ })
  t.equal(app.orderWaiters.size, 0)
  const snapshot = await app.inject({ url: '/api/orders/nobody', headers: auth })
  t.equal(snapshot.statusCode, 404)
})

t.test('without a Redis snapshot the order is read from Postgres, and a held wait is still notified', async (t) => {
  const { app, prefix, schema } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await insertOrder(t, schema, orderSnapshot('o-pg', 1))
  const snapshot = await app.inject({ url: '/api/orders/o-pg', headers: auth })
  t.equal(snapshot.statusCode, 200)
  t.match(snapshot.json(), { success: true, orderId: 'o-pg', orderNumber: 'ORD-o-pg', paymentStatus: 'pending', totalAmount: 1500, currency: 'KES', version: 1, customer: { email: 'jane@example.com', firstName: 'Jane' }, payment: { provider: 'mpesa', checkoutRequestId: 'ws_CO_o-pg' } })
  const answer = app.inject({ url: '/api/orders/o-pg/wait?timeout=60000', headers: auth })
  await waitUntil(() => app.orderWaiters.size === 1, 'the waiter to be held')
  await publisher.publish(orderEvent('o-pg', 2, 'completed'))
  t.match((await answer).json(), { paymentStatus: 'completed', version: 2, timedOut: false })
})

t.test('a long-poll that times out on a Redis snapshot behind Postgres answers what Postgres has', async (t) => {
  const { app, prefix, schema } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  const updateOrder = await insertOrder(t, schema, orderSnapshot('o-lost', 1))
  await publisher.publish(orderEvent('o-lost', 1))
  // The ingest committed the payment and Redis acknowledged its publish, then lost it (AOF, failover).
  await updateOrder({ paymentStatus: 'completed', status: 'paid', outcome: 'completed', resultCode: 0, receipt: 'QLOST1', version: 2 })
  const res = await app.inject({ url: '/api/orders/o-lost/wait?since=1&timeout=300', headers: auth })
  t.match(res.json(), { orderId: 'o-lost', paymentStatus: 'completed', version: 2, timedOut: true, payment: { receipt: 'QLOST1' } })
})

t.test('a client that goes away is removed from the index at once; 2,000 abandoned long-polls leave it empty', async (t) => {
  // 2,000 long-polls from one address and one token: the per-client cap and the rate limit are off for this one.
  const { app, prefix } = await buildGateway(t, { GATEWAY_MAX_HOLDS_PER_CLIENT: '0', GATEWAY_RATE_LIMIT_PER_MINUTE: '0' })
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-abandon', 1))
  const base = await listen(app)
  const total = 2000
  const controllers: AbortController[] = []
  const requests: Array<Promise<unknown>> = []
  for (let i = 0; i < total; i++) {
    const controller = new AbortController()
    controllers.push(controller)
    requests.push(fetch(`${base}/api/orders/o-abandon/wait?timeout=120000`, { headers: auth, signal: controller.signal }).catch(() => null))
  }
  await waitUntil(() => app.orderWaiters.size === total, `${total} waiters to be held`, 60_000)
  for (const controller of controllers) controller.abort()
  await Promise.all(requests)
  await waitUntil(() => app.orderWaiters.size === 0, 'the index to empty', 30_000)
  t.equal(app.orderWaiters.size, 0)
  const metrics = await app.inject({ url: '/metrics' })
  t.match(metrics.body, /herald_gateway_active_waiters\{service="status-gateway"\} 0/)
})

t.test('closing the gateway answers held long-polls with the current state', async (t) => {
  const { app, prefix } = await buildGateway(t)
  const { publisher } = usePublisher(t, prefix)
  await publisher.publish(orderEvent('o-close', 1))
  const base = await listen(app)
  const held = [1, 2, 3].map(() => getJson(`${base}/api/orders/o-close/wait?timeout=120000`, auth))
  await waitUntil(() => app.orderWaiters.size === 3, 'three waiters to be held')
  const closing = app.close()
  const answers = await Promise.all(held)
  await closing
  for (const answer of answers) {
    t.equal(answer.status, 200)
    t.match(answer.body, { success: true, orderId: 'o-close', version: 1, paymentStatus: 'pending', timedOut: true })
  }
})
