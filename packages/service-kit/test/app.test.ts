import t, { type Test } from 'tap'
import Type from 'typebox'
import pino from 'pino'
import { connect, type Socket } from 'node:net'
import { ErrorCodes } from '@herald/contracts'
import { NotFoundError, UnavailableError, createFastify, errorHandlerPlugin, healthPlugin, metricsPlugin, withDetails } from '../src/index.js'

async function build (t: Test) {
  const app = createFastify({ service: 'kit-test', logLevel: 'silent', bodyLimit: 1024 })
  await app.register(errorHandlerPlugin)
  await app.register(healthPlugin)
  await app.register(metricsPlugin, { service: 'kit-test', namespace: 'herald_kit', version: '0.0.0', commit: 'unknown' })
  let dependencyUp = true
  app.readiness.add('dependency', async () => dependencyUp)
  app.post('/things', {
    schema: { body: Type.Object({ name: Type.String({ maxLength: 8 }), count: Type.Integer() }) }
  }, async () => ({ ok: true }))
  app.get('/items/:id', {
    schema: { params: Type.Object({ id: Type.String({ maxLength: 128 }) }) }
  }, async (request) => ({ id: (request.params as { id: string }).id }))
  app.get('/missing', async () => { throw withDetails(new NotFoundError('Order 7 not found'), { orderId: '7' }) })
  app.get('/boom', async () => { throw new Error('secret database password in message') })
  app.get('/unavailable', async () => { throw new UnavailableError('Postgres is unreachable') })
  t.teardown(() => app.close())
  return { app, setDependency (up: boolean) { dependencyUp = up } }
}

t.test('errors leave as the contracts error body with Herald codes', async (t) => {
  const { app } = await build(t)
  const cases = [
    { name: 'bad JSON', payload: '{"name":', status: 400, code: ErrorCodes.BAD_JSON },
    { name: 'schema violation', payload: '{"name":"x"}', status: 400, code: ErrorCodes.VALIDATION, error: /count/ },
    { name: 'wrong type', payload: '{"name":"x","count":"many"}', status: 400, code: ErrorCodes.VALIDATION, error: /count/ },
    { name: 'body over the limit', payload: JSON.stringify({ name: 'x'.repeat(2000), count: 1 }), status: 413, code: ErrorCodes.BODY_TOO_LARGE }
  ]
  for (const c of cases) {
    const res = await app.inject({ method: 'POST', url: '/things', payload: c.payload, headers: { 'content-type': 'application/json' } })
    t.equal(res.statusCode, c.status, c.name)
    const body = res.json()
    t.equal(body.success, false, `${c.name}: success false`)
    t.equal(body.code, c.code, `${c.name}: code`)
    t.type(body.error, 'string', `${c.name}: error is a message`)
    if (c.error) t.match(body.error, c.error, `${c.name}: names the field`)
  }
  const ok = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x', count: 1 } })
  t.equal(ok.statusCode, 200)
})

t.test('declared errors keep their status, code and details; 5xx hide their message', async (t) => {
  const { app } = await build(t)
  const missing = await app.inject('/missing')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { success: false, error: 'Order 7 not found', code: ErrorCodes.NOT_FOUND, details: { orderId: '7' } })
  const boom = await app.inject('/boom')
  t.equal(boom.statusCode, 500)
  t.equal(boom.json().code, ErrorCodes.INTERNAL)
  t.notMatch(boom.body, /password/)
  const unavailable = await app.inject('/unavailable')
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.json().code, ErrorCodes.UNAVAILABLE)
  const route = await app.inject('/nowhere?token=x')
  t.equal(route.statusCode, 404)
  t.equal(route.json().code, ErrorCodes.ROUTE_NOT_FOUND)
  t.notMatch(route.json().error, /token/)
})

t.test('readyz reports each dependency and turns 503 when one is down or draining', async (t) => {
  const { app, setDependency } = await build(t)
  t.equal((await app.inject('/healthz')).statusCode, 200)
  const ready = await app.inject('/readyz')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().checks, { dependency: 'ok' })
  setDependency(false)
  const down = await app.inject('/readyz')
  t.equal(down.statusCode, 503)
  t.same(down.json().checks, { dependency: 'down' })
  setDependency(true)
  app.readiness.markShuttingDown()
  const draining = await app.inject('/readyz')
  t.equal(draining.statusCode, 503)
  t.equal(draining.json().shuttingDown, true)
})

t.test('an optional dependency down answers 200 degraded; every dependency down is not ready', async (t) => {
  const app = createFastify({ service: 'kit-test', logLevel: 'silent' })
  await app.register(healthPlugin)
  let up = { cache: true, store: true }
  app.readiness.add('cache', async () => up.cache, { required: false })
  app.readiness.add('store', async () => up.store, { required: false })
  t.teardown(() => app.close())
  t.same((await app.inject('/readyz')).json(), { status: 'ready', shuttingDown: false, checks: { cache: 'ok', store: 'ok' } })
  up = { cache: false, store: true }
  const degraded = await app.inject('/readyz')
  t.equal(degraded.statusCode, 200)
  t.same(degraded.json(), { status: 'degraded', shuttingDown: false, checks: { cache: 'down', store: 'ok' } })
  up = { cache: false, store: false }
  const none = await app.inject('/readyz')
  t.equal(none.statusCode, 503)
  t.equal(none.json().status, 'not_ready')
})

t.test('a 5xx is logged without the personal data its message or parameters carry', async (t) => {
  const lines: string[] = []
  const app = createFastify({ service: 'kit-test', logLevel: 'info' }, {
    logger: undefined,
    loggerInstance: pino({ level: 'info' }, { write (line: string) { lines.push(line) } })
  })
  await app.register(errorHandlerPlugin)
  app.get('/insert', async () => {
    const err = Object.assign(new Error('Failed query: insert into orders values ($1, $2)\nparams: jane.doe@example.com,254708374149'), {
      params: ['jane.doe@example.com', '254708374149'],
      cause: new Error('duplicate key for jane.doe@example.com')
    })
    throw err
  })
  t.teardown(() => app.close())
  const res = await app.inject('/insert')
  t.equal(res.statusCode, 500)
  const logged = lines.join('\n')
  t.match(logged, /request failed/)
  t.match(logged, /j\*\*\*@example\.com/, 'the email is masked, not dropped')
  t.notMatch(logged, /jane\.doe@example\.com/)
  t.notMatch(logged, /254708374149/)
})

t.test('a response held past the request timeout is still delivered (the timeout bounds receiving the request)', async (t) => {
  const app = createFastify({ service: 'kit-test', logLevel: 'silent', requestTimeoutMs: 1000 })
  app.get('/held', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2500))
    return { held: true }
  })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const held = await fetch(`http://127.0.0.1:${port}/held`)
  t.same(await held.json(), { held: true })
})

/** Opens a raw connection, lets `script` write, and resolves with what came back and when the server closed it. */
function rawConnection (port: number, script: (socket: Socket) => void): Promise<{ received: string, closedAfterMs: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const started = Date.now()
    let received = ''
    socket.on('data', (chunk) => { received += chunk.toString() })
    socket.on('error', () => {})
    socket.on('close', () => resolve({ received, closedAfterMs: Date.now() - started }))
    socket.on('connect', () => script(socket))
  })
}

/** Writes one byte every `everyMs` until the server closes the connection. */
function trickle (socket: Socket, everyMs: number): void {
  const drip = setInterval(() => { if (socket.writable) socket.write('a') }, everyMs)
  socket.once('close', () => clearInterval(drip))
}

t.test('a request not received within the timeout is cut soon after it, on any request of a connection, with the error body', async (t) => {
  const app = createFastify({ service: 'kit-test', logLevel: 'silent', requestTimeoutMs: 1000 })
  app.get('/quick', async () => ({ ok: true }))
  app.post('/things', async () => ({ ok: true }))
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const [firstHeaders, laterHeaders, slowBody] = await Promise.all([
    rawConnection(port, (socket) => { socket.write('GET /quick HTTP/1.1\r\nHost: x\r\nX-Slow: '); trickle(socket, 200) }),
    // A complete first request, then a second one on the same connection that never finishes its headers.
    rawConnection(port, (socket) => {
      socket.write('GET /quick HTTP/1.1\r\nHost: x\r\n\r\n')
      setTimeout(() => { socket.write('GET /quick HTTP/1.1\r\nHost: x\r\nX-Slow: '); trickle(socket, 200) }, 1500)
    }),
    rawConnection(port, (socket) => { socket.write('POST /things HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n'); trickle(socket, 200) })
  ])
  for (const [name, result, cutAfterMs] of [['first request\'s headers', firstHeaders, 1000], ['second request\'s headers', laterHeaders, 2500], ['trickled body', slowBody, 1000]] as const) {
    t.ok(result.closedAfterMs >= cutAfterMs - 50 && result.closedAfterMs < cutAfterMs + 2000, `${name}: closed ${result.closedAfterMs} ms after connecting (timeout passed at ${cutAfterMs} ms)`)
    t.match(result.received, /HTTP\/1\.1 408 Request Timeout\r\n[^]*"code":"HERALD_ERR_REQUEST_TIMEOUT"/, `${name}: answered 408 with the error body`)
  }
  t.match(laterHeaders.received, /^HTTP\/1\.1 200 OK/, 'the complete first request on that connection was answered')
})

t.test('an idle keep-alive connection is not a late request', async (t) => {
  const app = createFastify({ service: 'kit-test', logLevel: 'silent', requestTimeoutMs: 1000 })
  app.get('/quick', async () => ({ ok: true }))
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const idle = await rawConnection(port, (socket) => {
    socket.write('GET /quick HTTP/1.1\r\nHost: x\r\n\r\n')
    setTimeout(() => socket.write('GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 2500)
  })
  t.equal(idle.received.match(/HTTP\/1\.1 200 OK/g)?.length, 2, 'both requests answered, 2.5 s apart on one connection')
  t.notMatch(idle.received, /408/)
})

t.test('metrics are served in Prometheus text format', async (t) => {
  const { app } = await build(t)
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  t.match(res.body, /process_cpu_user_seconds_total\{service="kit-test"\}/)
})

t.test('errors raised before routing also leave as the error body, without echoing the path', async (t) => {
  const { app } = await build(t)
  const long = await app.inject(`/items/${'x'.repeat(600)}`)
  t.equal(long.statusCode, 414)
  t.match(long.json(), { success: false, code: ErrorCodes.VALIDATION, error: /longer than/ })
  t.notMatch(long.body, /xxxx/)
  const overId = await app.inject(`/items/${'x'.repeat(200)}`)
  t.equal(overId.statusCode, 400, 'an id over the schema limit but under the router limit is a validation error')
  t.match(overId.json().error, /id/)
  const badUrl = await app.inject('/items/%E0%A4%A')
  t.equal(badUrl.statusCode, 400)
  t.match(badUrl.json(), { success: false, code: ErrorCodes.VALIDATION })
})
