import t from 'tap'
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { buildIngest, darajaCallback, eventually, fixture, orderBody, signedHeaders, streamEntries, testRedis, type IngestTestApp } from './helper.js'

const MPESA = `/webhooks/mpesa/${TEST_SECRETS.MPESA_CALLBACK_TOKEN}`
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('every answer carries x-request-id: the caller\'s, else a generated one', async (t) => {
  const { app } = await buildIngest(t)
  const given = await app.inject({ method: 'POST', url: MPESA, payload: fixture('daraja-stk-success'), headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc.123' } })
  t.equal(given.headers['x-request-id'], 'req-abc.123', 'the caller\'s id is echoed')
  const generated = await app.inject({ method: 'GET', url: '/healthz' })
  t.match(generated.headers['x-request-id'], UUID, 'a generated one otherwise')
  const refused = await app.inject({ method: 'POST', url: '/webhooks/payhero/wrong', payload: '{}', headers: { 'content-type': 'application/json', 'x-request-id': 'req-refused' } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['x-request-id'], 'req-refused', 'errors carry it too')
  const noRoute = await app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'req-404' } })
  t.equal(noRoute.headers['x-request-id'], 'req-404', 'and unknown routes')
  const hostile = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\u0007<script>' } })
  t.match(hostile.headers['x-request-id'], UUID, 'an id that is not a plain token is replaced, not logged or echoed')
})

t.test('the id of the request that caused an event travels with it to the stream, by either publish path', async (t) => {
  const redis = testRedis(t)
  const tagged = (app: IngestTestApp['app'], method: 'PUT' | 'POST', url: string, payload: string, requestId: string, headers: Record<string, string>) =>
    app.inject({ method, url, payload, headers: { ...headers, 'x-request-id': requestId } })

  // Immediate publish: the relay publishes right after the commit, inside the request.
  const live = await buildIngest(t)
  const order = JSON.stringify(orderBody({ references: { checkoutRequestId: 'ws_CO_traced' } }))
  t.equal((await tagged(live.app, 'PUT', '/v1/orders/ord_traced', order, 'req-order-1', signedHeaders(order))).statusCode, 200)
  t.equal((await tagged(live.app, 'POST', MPESA, darajaCallback('ws_CO_traced', 0), 'req-callback-1', { 'content-type': 'application/json' })).statusCode, 200)
  await eventually(async () => (await streamEntries(redis, live.prefix)).length === 2, 20_000, 'both events on the stream')
  const published = (await streamEntries(redis, live.prefix)).map((entry) => JSON.parse(entry.json))
  t.same(published.map((event) => [event.version, event.requestId]), [[1, 'req-order-1'], [2, 'req-callback-1']])
  const { rows } = await live.app.pgPool.query("select version, payload->>'requestId' as request_id from outbox order by id")
  t.same(rows.map((row) => [row.version, row.request_id]), [[1, 'req-order-1'], [2, 'req-callback-1']], 'and is kept in the outbox row')

  // Sweep: a process that committed but never published; another one sweeps the outbox later.
  const crashed = await buildIngest(t, {}, { publishing: false })
  const other = JSON.stringify(orderBody({ references: { checkoutRequestId: 'ws_CO_swept' } }))
  t.equal((await tagged(crashed.app, 'PUT', '/v1/orders/ord_swept', other, 'req-order-2', signedHeaders(other))).statusCode, 200)
  await crashed.app.close()
  await buildIngest(t, {}, { schema: crashed.schema, prefix: crashed.prefix })
  await eventually(async () => (await streamEntries(redis, crashed.prefix)).length === 1, 20_000, 'the swept event')
  t.equal(JSON.parse((await streamEntries(redis, crashed.prefix))[0]!.json).requestId, 'req-order-2', 'the sweep publishes it too')
})

t.test('writes that share one group commit each keep the id of their own request', async (t) => {
  const redis = testRedis(t)
  const { app, prefix } = await buildIngest(t)
  const ids = Array.from({ length: 12 }, (_, i) => i)
  await Promise.all(ids.map(async (i) => {
    const body = JSON.stringify(orderBody({ references: { checkoutRequestId: `ws_CO_batch_${i}` } }))
    t.equal((await app.inject({ method: 'PUT', url: `/v1/orders/ord_batch_${i}`, payload: body, headers: { ...signedHeaders(body), 'x-request-id': `req-order-${i}` } })).statusCode, 200)
  }))
  // Callbacks go through the set-based writer: sent at once, they share batches.
  await Promise.all(ids.map(async (i) => {
    const answer = await app.inject({ method: 'POST', url: MPESA, payload: darajaCallback(`ws_CO_batch_${i}`, 0), headers: { 'content-type': 'application/json', 'x-request-id': `req-callback-${i}` } })
    t.equal(answer.statusCode, 200)
  }))
  await eventually(async () => (await streamEntries(redis, prefix)).length === 24, 20_000, 'every event on the stream')
  const events = (await streamEntries(redis, prefix)).map((entry) => JSON.parse(entry.json))
  for (const event of events) {
    const i = event.entityId.replace('ord_batch_', '')
    t.equal(event.requestId, event.version === 1 ? `req-order-${i}` : `req-callback-${i}`, `${event.entityId} v${event.version} names its own request`)
  }
})

/** An OTLP endpoint that takes the spans and drops them: these tests read the trace from the events. */
async function otlpSink (t: { teardown (fn: () => unknown): void }): Promise<string> {
  const server = createServer((request, response) => { request.resume().on('end', () => response.writeHead(200).end('{}')) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/

t.test('traced, writes that share one group commit each carry the trace of their own request', async (t) => {
  const redis = testRedis(t)
  const { app, prefix } = await buildIngest(t, { OTEL_EXPORTER_OTLP_ENDPOINT: await otlpSink(t) })
  const ids = Array.from({ length: 12 }, (_, i) => i)
  // Each caller's own trace: 32 hex digits ending in its number.
  type Kind = 'a' | 'b' | 'c'
  const traceOf = (kind: Kind, i: number) => `${kind.repeat(24)}${String(i).padStart(8, '0')}`
  const traceparent = (kind: Kind, i: number) => `00-${traceOf(kind, i)}-00f067aa0ba902b7-01`
  // Order upserts and callbacks go to set writers (one statement for the batch); a reported outcome is a
  // single write, replayed later in its request's context. Sent at once, they share batches.
  await Promise.all(ids.map(async (i) => {
    const body = JSON.stringify(orderBody({ references: { checkoutRequestId: `ws_CO_traced_${i}` } }))
    t.equal((await app.inject({ method: 'PUT', url: `/v1/orders/ord_traced_${i}`, payload: body, headers: { ...signedHeaders(body), traceparent: traceparent('a', i) } })).statusCode, 200)
  }))
  await Promise.all(ids.map(async (i) => {
    const outcome = JSON.stringify({ outcome: 'completed' })
    const answer = i < 6
      ? await app.inject({ method: 'POST', url: MPESA, payload: darajaCallback(`ws_CO_traced_${i}`, 0), headers: { 'content-type': 'application/json', traceparent: traceparent('b', i) } })
      : await app.inject({ method: 'POST', url: `/v1/orders/ord_traced_${i}/outcome`, payload: outcome, headers: { ...signedHeaders(outcome), traceparent: traceparent('c', i) } })
    t.equal(answer.statusCode, 200)
  }))
  await eventually(async () => (await streamEntries(redis, prefix)).length === 24, 20_000, 'every event on the stream')
  for (const entry of await streamEntries(redis, prefix)) {
    const event = JSON.parse(entry.json)
    const i = Number(event.entityId.replace('ord_traced_', ''))
    t.equal(TRACEPARENT.exec(event.traceparent)?.[1], traceOf(event.version === 1 ? 'a' : i < 6 ? 'b' : 'c', i), `${event.entityId} v${event.version} is in its own request's trace`)
    t.not(event.traceparent.slice(36, 52), '00f067aa0ba902b7', 'as a child of the caller\'s span: the ingest\'s own span is the cause')
  }
})

t.test('untraced, an event carries its request id and nothing more, whatever the caller sends', async (t) => {
  const redis = testRedis(t)
  const { app, prefix } = await buildIngest(t)
  const body = JSON.stringify(orderBody({ references: { checkoutRequestId: 'ws_CO_untraced' } }))
  const headers = { ...signedHeaders(body), 'x-request-id': 'req-untraced', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=x' }
  t.equal((await app.inject({ method: 'PUT', url: '/v1/orders/ord_untraced', payload: body, headers })).statusCode, 200)
  await eventually(async () => (await streamEntries(redis, prefix)).length === 1, 20_000, 'the event on the stream')
  const event = JSON.parse((await streamEntries(redis, prefix))[0]!.json)
  t.same(Object.keys(event).sort(), ['entityId', 'entityType', 'eventId', 'occurredAt', 'order', 'requestId', 'version'], 'no trace keys')
  t.equal(event.requestId, 'req-untraced')
})
