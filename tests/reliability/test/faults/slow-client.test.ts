// Slow clients (slow loris): both services close a connection whose request is not all there within
// HTTP_REQUEST_TIMEOUT_MS (3 s here), whether the first request's headers trickle, a later keep-alive
// request's headers trickle, or a body trickles, while an SSE stream and a long-poll held on the gateway
// meanwhile are left alone. The test asserts each close came soon after the timeout (well before Node's
// own 30 s sweep) and the held clients, and records how long each close took.
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { startGateway, startIngest, until } from '../support/processes.js'
import { MPESA_PATH, SseFollower, call, deliver, orderBody } from '../support/traffic.js'
import { recordFigures, useStorage } from '../support/storage.js'

const TIMEOUT_MS = 3000
/** The promise is "about a second after the timeout"; the slack covers a loaded machine. */
const CUT_WITHIN_MS = TIMEOUT_MS + 3000

type Slowness = 'first request headers' | 'later request headers' | 'request body'

interface Cut { slowness: Slowness, closedByServer: boolean, status: number | null, cutAfterMs: number, bytesSent: number }

/** Writes one byte a second until the server closes the connection (or the limit passes). */
async function drip (socket: Socket, ended: Promise<void>, limitMs: number): Promise<number> {
  let bytes = 0
  const timer = setInterval(() => {
    if (!socket.writable) return
    socket.write('X')
    bytes++
  }, 1000)
  await Promise.race([ended, new Promise<void>((resolve) => setTimeout(resolve, limitMs).unref())])
  clearInterval(timer)
  return bytes
}

/**
 * One slow client on a raw connection. `cutAfterMs` counts from the moment the slow request began (for a
 * later request: after the first one was answered), as the timeout does.
 */
async function slowRequest (port: number, slowness: Slowness, target: { method: string, path: string, authorization?: string }, limitMs = 20_000): Promise<Cut> {
  const socket = connect(port, '127.0.0.1')
  let received = ''
  let closed = false
  socket.on('error', () => {})
  // Read what the server sends (its 408), so its close is seen at once rather than at the next write.
  socket.on('data', (chunk: Buffer) => { received += chunk.toString() })
  const ended = new Promise<void>((resolve) => socket.once('close', () => { closed = true; resolve() }))
  await new Promise((resolve) => socket.once('connect', resolve))
  if (slowness === 'later request headers') {
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    await until(() => /\r\n\r\n[^]*\}/.test(received) || socket.destroyed, 'the first request to be answered', 10_000)
    received = ''
  }
  const started = Date.now()
  const auth = target.authorization === undefined ? '' : `Authorization: ${target.authorization}\r\n`
  const head = slowness === 'request body'
    ? `${target.method} ${target.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"Body":`
    : `${target.method} ${target.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}`
  socket.write(head)
  const bytesSent = head.length + await drip(socket, ended, limitMs)
  const cut = { slowness, closedByServer: closed, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0) || null, cutAfterMs: Date.now() - started, bytesSent }
  socket.destroy()
  return cut
}

const SLOWNESSES: Slowness[] = ['first request headers', 'later request headers', 'request body']

t.test('a client that does not send its whole request in time is disconnected by both services; held clients stay', async (t) => {
  const storage = await useStorage(t, 'slow_client')
  const timeouts = { HTTP_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) }
  const ingest = await startIngest(t, storage, timeouts)
  const gateway = await startGateway(t, storage, timeouts)
  // Held clients: an SSE stream and a long-poll of 12 s, both open before the slow clients and past their cut.
  const created = await deliver(() => [ingest.url], 'PUT', '/v1/orders/held-1', orderBody('ws_CO_held1'), 'msg_held_1')
  t.equal(created.status, 200)
  const token = created.body.subscribeToken as string
  const stream = new SseFollower(() => [gateway.url], '/api/orders/held-1/events', token).start()
  t.teardown(() => stream.stop())
  const longPoll = call(`${gateway.url}/api/orders/held-1/wait?since=1&timeout=12000`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 30_000 })
  // The gateway has no route taking a body: a long-poll sent with a body that never ends is its slow body
  // (the route runs at the headers and holds; the request is still not all there).
  const targets = {
    ingest: { headers: { method: 'GET', path: '/webhooks/mpesa/x' }, body: { method: 'POST', path: MPESA_PATH } },
    gateway: {
      headers: { method: 'GET', path: '/api/orders/x/events' },
      body: { method: 'GET', path: '/api/orders/held-1/wait?since=1&timeout=12000', authorization: `Bearer ${token}` }
    }
  }
  const [toIngest, toGateway] = await Promise.all((['ingest', 'gateway'] as const).map((service) => {
    const port = service === 'ingest' ? ingest.port : gateway.port
    return Promise.all(SLOWNESSES.map((slowness) => slowRequest(port, slowness, slowness === 'request body' ? targets[service].body : targets[service].headers)))
  }))
  for (const [service, cuts] of [['ingest', toIngest], ['gateway', toGateway]] as const) {
    for (const cut of cuts) {
      t.ok(cut.closedByServer, `the ${service} closed the connection of a slow ${cut.slowness} (after ${cut.cutAfterMs} ms)`)
      t.ok(cut.cutAfterMs < CUT_WITHIN_MS, `${service}, ${cut.slowness}: cut within ${CUT_WITHIN_MS} ms of the request's start`)
      t.ok(cut.cutAfterMs >= TIMEOUT_MS - 100, `${service}, ${cut.slowness}: not before the timeout`)
      t.equal(cut.status, 408, `${service}, ${cut.slowness}: answered 408`)
    }
  }
  t.ok(stream.connected, 'the SSE stream held meanwhile is still open')
  t.equal(stream.connects, 1, 'and was never cut')
  const polled = await longPoll
  t.equal(polled.status, 200, 'the long-poll held past the cut answered at its own timeout')
  t.ok(ingest.running && gateway.running, 'both services still run')
  recordFigures('slow-client', { ingest: toIngest, gateway: toGateway, heldSseConnects: stream.connects, heldLongPollStatus: polled.status })
})
