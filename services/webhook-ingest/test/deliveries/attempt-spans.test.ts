import t from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node'
import type { StreamEvent } from '@herald/contracts'
import { BackendWebhookSender } from '../../src/deliveries/backend-webhook.js'
import { freePort } from '../helper.js'

const SECRET = `whsec_${Buffer.from('attempt-spans-test-secret-012345').toString('base64')}`
const CAUSE = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }
const now = new Date().toISOString()

const orderEvent = (trace: Partial<StreamEvent> = {}): StreamEvent => ({
  eventId: '42',
  entityType: 'order',
  entityId: 'ord_1',
  version: 3,
  occurredAt: now,
  requestId: 'req-callback',
  ...trace,
  order: {
    orderId: 'ord_1',
    orderNumber: 'INV-1',
    paymentStatus: 'completed',
    status: 'paid',
    totalAmount: 10,
    currency: 'KES',
    ticketCount: 1,
    customer: null,
    payment: { provider: 'mpesa', outcome: 'completed', resultCode: 0, resultDesc: 'ok', receipt: 'R1', checkoutRequestId: 'ws_CO_1' },
    needsReview: false,
    createdAt: now,
    updatedAt: now,
    version: 3
  }
}) as StreamEvent

/** A receiver answering `status` and keeping the headers of what it got. */
async function receiver (t: { teardown (fn: () => unknown): void }, status: number) {
  const headers: IncomingHttpHeaders[] = []
  const server = createServer((request, response) => { headers.push(request.headers); request.resume().on('end', () => response.writeHead(status).end()) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-token`, headers }
}

function traced () {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  return { exporter, sender: new BackendWebhookSender([SECRET], 2000, provider.getTracer('test')) }
}

t.test('an attempt is a client span in the event\'s trace, and the receiver gets its traceparent', async (t) => {
  const { exporter, sender } = traced()
  const backend = await receiver(t, 200)
  const result = await sender.send(backend.url, '42', orderEvent({ traceparent: `00-${CAUSE.traceId}-${CAUSE.spanId}-01`, tracestate: 'vendor=a1' }), 2)
  t.same(result, { ok: true, status: 200 })
  const [span] = exporter.getFinishedSpans()
  t.equal(span?.name, 'herald.backend.deliver')
  t.equal(span?.kind, SpanKind.CLIENT)
  t.equal(span?.spanContext().traceId, CAUSE.traceId, 'in the cause\'s trace')
  t.equal(span?.parentSpanContext?.spanId, CAUSE.spanId, 'a child of the cause\'s span')
  t.match(span?.attributes, { 'http.request.method': 'POST', 'http.response.status_code': 200, 'server.address': '127.0.0.1', 'herald.event.id': '42', 'herald.delivery.attempt': 2, 'herald.event.request_id': 'req-callback' })
  t.notOk(JSON.stringify(span?.attributes).includes('secret-token'), 'the receiver\'s path is left out')
  t.equal(backend.headers[0]?.traceparent, `00-${CAUSE.traceId}-${span?.spanContext().spanId}-01`, 'the header names the attempt\'s span')
  t.equal(backend.headers[0]?.tracestate, 'vendor=a1', 'tracestate travels too')
  t.ok(backend.headers[0]?.['webhook-signature'], 'still signed (the signature covers id, timestamp and body only)')
})

t.test('a failed attempt is an error span: the status, or a network error', async (t) => {
  const { exporter, sender } = traced()
  const backend = await receiver(t, 503)
  t.match(await sender.send(backend.url, '42', orderEvent({ traceparent: `00-${CAUSE.traceId}-${CAUSE.spanId}-01` })), { ok: false, status: 503 })
  t.match(await sender.send(`http://127.0.0.1:${await freePort()}/down`, '42', orderEvent()), { ok: false, status: null })
  const [refused, unreachable] = exporter.getFinishedSpans()
  t.match(refused, { attributes: { 'http.response.status_code': 503, 'error.type': '503' }, status: { code: SpanStatusCode.ERROR, message: 'HTTP 503' } })
  t.match(unreachable, { attributes: { 'error.type': 'network' }, status: { code: SpanStatusCode.ERROR } })
  t.notOk('http.response.status_code' in unreachable!.attributes)
  t.not(unreachable?.spanContext().traceId, CAUSE.traceId, 'an event without a trace context gets an attempt span in a trace of its own')
  t.equal(unreachable?.parentSpanContext, undefined)
})

t.test('untraced, the receiver gets no traceparent, even for an event that carries one', async (t) => {
  const backend = await receiver(t, 200)
  const sender = new BackendWebhookSender([SECRET], 2000)
  t.same(await sender.send(backend.url, '42', orderEvent({ traceparent: `00-${CAUSE.traceId}-${CAUSE.spanId}-01` })), { ok: true, status: 200 })
  t.notOk('traceparent' in backend.headers[0]!)
})
