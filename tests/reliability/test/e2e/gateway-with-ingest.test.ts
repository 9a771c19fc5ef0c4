// The status-gateway's promises with the real webhook-ingest in front of it (both apps in this process,
// listening on ephemeral ports, on the test's own schema and prefix): what a payment engineer sees.
import t from 'tap'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { FastifyInstance } from 'fastify'
import { StreamLayout } from '@herald/streams'
import { buildGatewayApp, buildIngestApp } from '../support/apps.js'
import { until, type Teardown } from '../support/processes.js'
import { range, useRedis, useStorage } from '../support/storage.js'
import { MPESA_PATH, call, darajaCallback, orderBody, signedCall, stageEvent } from '../support/traffic.js'
import { TEST_REDIS_URL } from '@herald/service-kit/testing'

/** Long-polls held by a gateway app right now. */
const heldOn = (app: FastifyInstance): number => (app as unknown as { orderWaiters: { size: number } }).orderWaiters.size

async function listening (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return `http://127.0.0.1:${port}`
}

async function setUp (t: Teardown & { name: string }, gateways = 1) {
  const storage = await useStorage(t, 'e2e_gw')
  const ingestApp = await buildIngestApp(t, storage)
  const ingest = await listening(ingestApp)
  const gatewayApps: FastifyInstance[] = []
  const urls: string[] = []
  for (let i = 0; i < gateways; i++) {
    const app = await buildGatewayApp(t, storage)
    gatewayApps.push(app)
    urls.push(await listening(app))
  }
  return { storage, ingest, gatewayApps, gateways: urls }
}

async function registerOrder (ingest: string, orderId: string, checkout: string): Promise<string> {
  const answer = await signedCall(ingest, 'PUT', `/v1/orders/${orderId}`, orderBody(checkout))
  if (answer.status !== 200) throw new Error(`order ${orderId}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body.subscribeToken
}

function callback (ingest: string, checkout: string, resultCode: number) {
  return call(`${ingest}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(darajaCallback(checkout, resultCode)) })
}

function longPoll (gateway: string, orderId: string, token: string, query: string) {
  return call(`${gateway}/api/orders/${orderId}/wait?${query}`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 90_000 })
}

t.test('long-polls answer as payments land: completed, cancelled, and at once for a final order', async (t) => {
  const { ingest, gateways: [gateway], gatewayApps: [app] } = await setUp(t)
  const paidToken = await registerOrder(ingest, 'e2e-paid', 'ws_CO_e2e_paid')
  const cancelledToken = await registerOrder(ingest, 'e2e-cancel', 'ws_CO_e2e_cancel')
  const paid = longPoll(gateway!, 'e2e-paid', paidToken, 'since=1&timeout=60000')
  const cancelled = longPoll(gateway!, 'e2e-cancel', cancelledToken, 'since=1&timeout=60000')
  await until(() => heldOn(app!) === 2, 'both long-polls to be held')
  t.equal((await callback(ingest, 'ws_CO_e2e_paid', 0)).status, 200)
  t.equal((await callback(ingest, 'ws_CO_e2e_cancel', 1032)).status, 200)
  t.match((await paid).body, { orderId: 'e2e-paid', paymentStatus: 'completed', status: 'paid', timedOut: false, payment: { outcome: 'completed' } })
  t.match((await cancelled).body, { orderId: 'e2e-cancel', paymentStatus: 'cancelled', status: 'cancelled', timedOut: false, payment: { outcome: 'cancelled' } })
  const started = Date.now()
  const final = await longPoll(gateway!, 'e2e-paid', paidToken, 'since=0&timeout=60000')
  t.match(final.body, { paymentStatus: 'completed', timedOut: false }, 'a final order answers at once')
  t.ok(Date.now() - started < 30_000, 'without waiting for the timeout')
  t.equal(heldOn(app!), 0, 'no waiter left behind')
})

t.test('300 callbacks fired as their long-polls start: none runs to its timeout', async (t) => {
  const { ingest, gateways: [gateway] } = await setUp(t)
  const answers: Array<{ timedOut: boolean, paymentStatus: string }> = []
  for (const batch of range(15)) {
    await Promise.all(range(20).map(async (i) => {
      const n = batch * 20 + i
      const token = await registerOrder(ingest, `e2e-race-${n}`, `ws_CO_e2e_race_${n}`)
      const [, wait] = await Promise.all([
        callback(ingest, `ws_CO_e2e_race_${n}`, 0),
        longPoll(gateway!, `e2e-race-${n}`, token, 'since=1&timeout=20000')
      ])
      answers.push(wait.body)
    }))
  }
  t.equal(answers.length, 300)
  t.equal(answers.filter((a) => a.timedOut).length, 0, 'no long-poll timed out')
  t.equal(answers.filter((a) => a.paymentStatus === 'completed').length, 300, 'each saw its payment')
})

t.test('two gateways on the same Redis both notify their own waiters of the same payment', async (t) => {
  const { ingest, gateways, gatewayApps } = await setUp(t, 2)
  const token = await registerOrder(ingest, 'e2e-two', 'ws_CO_e2e_two')
  const waits = gateways.map((gateway) => longPoll(gateway, 'e2e-two', token, 'since=1&timeout=60000'))
  await until(() => gatewayApps.every((app) => heldOn(app) === 1), 'a long-poll held on each gateway')
  await callback(ingest, 'ws_CO_e2e_two', 0)
  for (const [i, wait] of waits.entries()) t.match((await wait).body, { paymentStatus: 'completed', timedOut: false }, `gateway ${i + 1} notified its waiter`)
})

/** An SSE connection that collects its messages until closed. */
function openSse (url: string, token: string, lastEventId?: string) {
  const controller = new AbortController()
  const messages: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (message) => { messages.push(message) } })
  const headers: Record<string, string> = { authorization: `Bearer ${token}` }
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
  const done = (async () => {
    try {
      const res = await fetch(url, { headers, signal: controller.signal })
      const decoder = new TextDecoder()
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }))
    } catch {}
  })()
  const data = () => messages.map((m) => JSON.parse(m.data))
  return {
    messages,
    updates: () => messages.filter((m) => JSON.parse(m.data).type === 'update'),
    ofType: (type: string) => data().filter((d) => d.type === type),
    async close () { controller.abort(); await done }
  }
}

t.test('SSE: a client gone after 3 of 8 stage events gets exactly the 5 it missed on reconnect; a trimmed id gets a reset', async (t) => {
  const { storage, ingest, gateways: [gateway] } = await setUp(t)
  const path = '/v1/registrations/e2e-reg/events'
  const first = await signedCall(ingest, 'POST', path, stageEvent(1))
  t.equal(first.status, 200)
  const token = first.body.subscribeToken as string
  const url = `${gateway}/api/registrations/updates/stream?registrationId=e2e-reg`
  const sse = openSse(url, token, '0')
  await until(() => sse.updates().length === 1, 'the first update')
  for (const n of [2, 3]) t.equal((await signedCall(ingest, 'POST', path, stageEvent(n))).status, 200)
  await until(() => sse.updates().length === 3, 'three updates')
  await sse.close()
  const lastId = sse.updates()[2]!.id
  t.equal(lastId, '3', 'update ids are the versions')

  for (const n of [4, 5, 6, 7, 8]) t.equal((await signedCall(ingest, 'POST', path, stageEvent(n))).status, 200)
  const again = openSse(url, token, lastId)
  await until(() => again.updates().length === 5, 'the five missed updates')
  t.same(again.updates().map((m) => m.id), ['4', '5', '6', '7', '8'], 'exactly the missed events, in order')
  t.same(again.ofType('update').map((d) => d.data.stage), ['step_4', 'step_5', 'step_6', 'step_7', 'step_8'])
  t.equal(again.ofType('reset').length, 0)
  await again.close()

  // Retention trimmed the history past version 3 (as MINID/MAXLEN do): resuming from 2 cannot be exact.
  const redis = useRedis(t, TEST_REDIS_URL)
  const layout = new StreamLayout({ prefix: storage.prefix, shards: 1 })
  await redis.zremrangebyscore(layout.historyKey('registration', 'e2e-reg'), '-inf', 5)
  const trimmed = openSse(url, token, '2')
  await until(() => trimmed.ofType('reset').length === 1, 'a reset')
  t.match(trimmed.ofType('reset')[0], { type: 'reset', data: { registrationId: 'e2e-reg', stage: 'step_8' } }, 'the reset carries the current snapshot')
  t.equal(trimmed.updates().length, 0, 'no pretend replay')
  await trimmed.close()
})

t.test('a subscribe token opens its own order and nothing else; without one, no customer data', async (t) => {
  const { ingest, gateways: [gateway] } = await setUp(t)
  const tokenA = await registerOrder(ingest, 'e2e-a', 'ws_CO_e2e_a')
  await registerOrder(ingest, 'e2e-b', 'ws_CO_e2e_b')
  const own = await call(`${gateway}/api/orders/e2e-a`, { headers: { authorization: `Bearer ${tokenA}` } })
  t.match(own, { status: 200, body: { orderId: 'e2e-a', customer: { email: 'jane.doe@example.com' } } })
  const other = await call(`${gateway}/api/orders/e2e-b`, { headers: { authorization: `Bearer ${tokenA}` } })
  t.ok(other.status === 401 || other.status === 403, `order A's token cannot read order B (${other.status})`)
  t.notMatch(JSON.stringify(other.body), /jane/)
  const none = await call(`${gateway}/api/orders/e2e-a/wait?timeout=1000`)
  t.equal(none.status, 401)
  t.notMatch(JSON.stringify(none.body), /jane/)
})
