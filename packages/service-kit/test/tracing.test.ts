import t from 'tap'
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createFastify, currentCause, errorHandlerPlugin, inRequestContext, requestIdPlugin, tracingPlugin } from '../src/index.js'

/** A stand-in OTLP/HTTP collector: keeps the JSON bodies posted to /v1/traces. */
async function collector (t: { teardown (fn: () => unknown): void }) {
  const bodies: string[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => { body += chunk })
    request.on('end', () => {
      if (request.url === '/v1/traces') bodies.push(body)
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies }
}

async function build (endpoint: string) {
  const app = createFastify({ service: 'kit-test', logLevel: 'silent' })
  await app.register(tracingPlugin, { service: 'kit-test', version: '0.0.0', endpoint })
  await app.register(errorHandlerPlugin)
  await app.register(requestIdPlugin)
  app.get('/things/:id', async () => ({ ok: true }))
  // What a write queued by this request would carry, and whether it is the request's own context object.
  app.get('/cause', async () => {
    const cause = currentCause()
    return { cause, same: cause === currentCause(), traced: app.tracer !== undefined }
  })
  await app.ready()
  return app
}

t.test('with an OTLP endpoint, a request joins the caller\'s W3C trace and its span is exported', async (t) => {
  const otlp = await collector(t)
  const app = await build(otlp.url)
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
  const res = await app.inject({ url: '/things/7', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } })
  t.equal(res.statusCode, 200)
  await app.close() // flushes the batch
  const exported = otlp.bodies.join('\n')
  t.match(exported, traceId, 'the span carries the caller\'s trace id')
  t.match(exported, '00f067aa0ba902b7', 'with the caller\'s span as parent')
  t.match(exported, 'kit-test', 'named by service')
  t.match(exported, '/things/:id', 'and by route')
})

t.test('without an endpoint nothing is traced or sent', async (t) => {
  const otlp = await collector(t)
  const app = await build('')
  t.equal((await app.inject({ url: '/things/7', headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })).statusCode, 200)
  await app.close()
  t.same(otlp.bodies, [])
  t.notOk(app.hasPlugin('@fastify/otel'), 'the instrumentation is not even registered')
})

t.test('traced, a request\'s cause carries the W3C context of the span it runs in; replayed, the one captured', async (t) => {
  const otlp = await collector(t)
  const app = await build(otlp.url)
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
  const res = await app.inject({ url: '/cause', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=a1', 'x-request-id': 'req-1' } })
  const { cause, traced } = res.json()
  t.ok(traced, 'the service has a tracer')
  t.equal(cause.requestId, 'req-1')
  t.match(cause.traceparent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'in the caller\'s trace')
  t.not(cause.traceparent.slice(36, 52), '00f067aa0ba902b7', 'as the handler\'s span, a child of the caller\'s')
  t.equal(cause.tracestate, 'vendor=a1', 'tracestate travels too')
  const captured = { requestId: 'req-2', traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` }
  t.same(inRequestContext(captured, () => currentCause()), captured, 'work replayed for a request carries what was captured then')
  t.equal(inRequestContext(undefined, () => currentCause()), undefined, 'work for no request carries nothing')
  await app.close()
})

t.test('untraced, a request\'s cause is its id alone, the context\'s own object: nothing is allocated or carried', async (t) => {
  const app = await build('')
  const res = await app.inject({ url: '/cause', headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-request-id': 'req-3' } })
  t.same(res.json(), { cause: { requestId: 'req-3' }, same: true, traced: false })
  await app.close()
})
