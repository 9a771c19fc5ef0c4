// One payment followed end to end through both services' traces: the ingest and the gateway (in this
// process, listening on ephemeral ports) export to a stand-in OTLP collector, a back-end takes the
// outbound webhooks, and the test reads back which span each step landed in.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildGatewayApp, buildIngestApp } from '../support/apps.js'
import { startBackend, startCollector, parseTraceparent, type ExportedSpan } from '../support/otlp.js'
import { until, type HeraldStorage } from '../support/processes.js'
import { useRedis, useStorage } from '../support/storage.js'
import { INTERNAL_SECRET, MPESA_PATH, SseFollower, call, darajaCallback, orderBody, signedCall } from '../support/traffic.js'
import { StreamLayout, parseStreamEntries } from '@herald/streams'
import { TEST_REDIS_URL } from '@herald/service-kit/testing'

const heldOn = (app: FastifyInstance): number => (app as unknown as { orderWaiters: { size: number } }).orderWaiters.size

async function listening (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

/** Both services, and a back-end receiving every order change; `env` adds to both (tracing on or off). */
async function setUp (t: Parameters<typeof useStorage>[0] & { name: string }, env: Record<string, string>) {
  const storage = await useStorage(t, 'e2e_trace')
  const backend = await startBackend(t)
  const ingestApp = await buildIngestApp(t, storage, { ...env, BACKEND_WEBHOOK_URLS: backend.url, BACKEND_WEBHOOK_SECRET: INTERNAL_SECRET, BACKEND_WEBHOOK_EVENTS: 'order.updated' })
  const gatewayApp = await buildGatewayApp(t, storage, env)
  return { storage, backend, gatewayApp, ingest: await listening(ingestApp), gateway: await listening(gatewayApp) }
}

/**
 * A page waiting on the order (long-poll and SSE), then the provider's callback: what a payment is. Answers
 * the long-poll's answer and the SSE follower once both have the paid version.
 */
async function payWhileWaiting (t: Parameters<typeof useStorage>[0], { ingest, gateway, gatewayApp }: Awaited<ReturnType<typeof setUp>>, orderId: string, callbackHeaders: Record<string, string> = {}) {
  const registered = await signedCall(ingest, 'PUT', `/v1/orders/${orderId}`, orderBody(`ws_CO_${orderId}`))
  if (registered.status !== 200) throw new Error(`order ${orderId}: ${registered.status}`)
  const token = registered.body.subscribeToken as string
  const sse = new SseFollower(() => [gateway], `/api/orders/${orderId}/events`, token).start()
  t.teardown(() => sse.stop())
  const wait = call(`${gateway}/api/orders/${orderId}/wait?since=1&timeout=60000`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-waiting-page' }, timeoutMs: 90_000 })
  await until(() => heldOn(gatewayApp) === 1 && sse.connected, 'the long-poll held and the SSE stream open')
  const answer = await call(`${ingest}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'req-provider-callback', ...callbackHeaders }, body: JSON.stringify(darajaCallback(`ws_CO_${orderId}`, 0)) })
  if (answer.status !== 200) throw new Error(`callback: ${answer.status}`)
  const longPoll = await wait
  await until(() => sse.version === 2, 'the SSE update')
  return { longPoll, sse }
}

/** The stream events of the order, as the relay wrote them. */
async function streamEvents (t: Parameters<typeof useStorage>[0], storage: HeraldStorage): Promise<Array<Record<string, unknown>>> {
  const redis = useRedis(t, TEST_REDIS_URL)
  const [key] = new StreamLayout({ prefix: storage.prefix, shards: 1 }).streamKeys()
  return parseStreamEntries(await redis.xrange(key!, '-', '+') as Array<[string, string[]]>).map((entry) => JSON.parse(entry.json))
}

t.test('a callback\'s trace reaches the gateway\'s deliveries and the back-end webhook', async (t) => {
  const collector = await startCollector(t)
  const services = await setUp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url })
  const { longPoll } = await payWhileWaiting(t, services, 'e2e-traced')
  t.match(longPoll.body, { paymentStatus: 'completed', version: 2 })
  t.notOk('traceparent' in longPoll.body || 'requestId' in longPoll.body, 'the browser sees neither the trace nor the request id')
  await until(() => services.backend.received.some((webhook) => webhook.body.data.version === 2), 'the back-end webhook of the payment')

  const spans = collector.spans
  const find = (what: string, match: (span: ExportedSpan) => boolean): Promise<ExportedSpan> =>
    until(() => spans.some(match), what, 30_000).then(() => spans.find(match)!)
  const callback = await find('the ingest\'s callback span', (s) => s.service === 'webhook-ingest' && s.kind === 2 && s.attributes['http.route'] === '/webhooks/mpesa/:token')
  const trace = callback.traceId

  // The ingest: the event on the stream carries the callback's request id and the span it was queued in.
  const events = await streamEvents(t, services.storage)
  const paid = events.find((event) => event.version === 2)!
  t.equal(paid.requestId, 'req-provider-callback')
  const cause = parseTraceparent(paid.traceparent)
  t.equal(cause?.traceId, trace, 'the stream event carries the callback\'s trace id')
  t.ok(spans.some((s) => s.service === 'webhook-ingest' && s.traceId === trace && s.spanId === cause?.parentId), 'and a span of the callback request as its cause')
  const registered = parseTraceparent(events.find((event) => event.version === 1)!.traceparent)
  t.not(registered?.traceId, trace, 'the order\'s registration is in its own request\'s trace')

  // The gateway: one delivery span per channel, children of the cause, linked to the waiting request.
  for (const channel of ['longpoll', 'sse']) {
    const delivery = await find(`the ${channel} delivery span`, (s) => s.name === 'herald.deliver' && s.attributes['herald.delivery.channel'] === channel && s.attributes['herald.event.version'] === 2)
    t.match(delivery, {
      service: 'status-gateway',
      kind: 5,
      traceId: trace,
      parentSpanId: cause!.parentId,
      attributes: { 'herald.entity.id': 'e2e-traced', 'herald.event.request_id': 'req-provider-callback', 'herald.event.id': paid.eventId }
    }, `the ${channel} delivery is in the callback's trace`)
    t.equal(delivery.links.length, 1, `the ${channel} delivery links to the request that waited`)
    t.not(delivery.links[0]!.traceId, trace)
  }
  const waitRequest = await find('the long-poll request span', (s) => s.service === 'status-gateway' && s.kind === 2 && s.attributes['http.route'] === '/api/orders/:orderId/wait')
  const longPollDelivery = spans.find((s) => s.name === 'herald.deliver' && s.attributes['herald.delivery.channel'] === 'longpoll')!
  t.equal(longPollDelivery.links[0]!.traceId, waitRequest.traceId, 'the link is the long-poll request\'s trace')

  // The back-end: the attempt is a client span in the callback's trace, and the receiver got its traceparent.
  const webhook = services.backend.received.find((w) => w.body.data.version === 2)!
  const sent = parseTraceparent(webhook.headers.traceparent)
  t.equal(sent?.traceId, trace, 'the back-end webhook continues the callback\'s trace')
  const attempt = await find('the back-end attempt span', (s) => s.name === 'herald.backend.deliver' && s.attributes['herald.event.version'] === 2)
  t.match(attempt, {
    service: 'webhook-ingest',
    kind: 3,
    traceId: trace,
    spanId: sent!.parentId,
    parentSpanId: cause!.parentId,
    attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200, 'server.address': '127.0.0.1', 'herald.delivery.attempt': 1, 'herald.event.request_id': 'req-provider-callback' }
  }, 'the header names the attempt\'s own span')
  t.notOk(JSON.stringify(attempt.attributes).includes('/herald'), 'the receiver\'s path is not recorded')
})

t.test('with tracing off, no trace context is carried: not in the stream, not to the back-end', async (t) => {
  const services = await setUp(t, {})
  // A caller that traces (a proxy in front) sends a traceparent: it is not taken up.
  const { longPoll } = await payWhileWaiting(t, services, 'e2e-untraced', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })
  t.match(longPoll.body, { paymentStatus: 'completed', version: 2 })
  const events = await streamEvents(t, services.storage)
  t.same(events.map((event) => event.version), [1, 2])
  t.equal(events[1]!.requestId, 'req-provider-callback', 'the request id still travels')
  for (const event of events) {
    t.notOk('traceparent' in event || 'tracestate' in event, `version ${String(event.version)} carries no trace context`)
  }
  await until(() => services.backend.received.some((webhook) => webhook.body.data.version === 2), 'the back-end webhook of the payment')
  for (const webhook of services.backend.received) t.notOk('traceparent' in webhook.headers, 'the back-end gets no traceparent')
})
