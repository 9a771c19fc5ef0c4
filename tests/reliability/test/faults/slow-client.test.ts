// Slow clients holding headers (slow loris): both services close a connection whose request headers never
// finish, within about a second after HTTP_REQUEST_TIMEOUT_MS (3 s here), while an SSE stream and a
// long-poll held on the gateway meanwhile are left alone. The test
// asserts the close and the held clients, and records how long the close took.
import t from 'tap'
import { connect } from 'node:net'
import { startGateway, startIngest } from '../support/processes.js'
import { SseFollower, call, deliver, orderBody } from '../support/traffic.js'
import { recordFigures, useStorage } from '../support/storage.js'

async function holdHeaders (port: number, path: string, limitMs: number): Promise<{ closedByServer: boolean, heldMs: number, bytesSent: number }> {
  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  let bytesSent = 0
  let closed = false
  socket.on('error', () => {})
  // Read what the server sends (its 408), so its close is seen at once rather than at the next write.
  socket.resume()
  const ended = new Promise<void>((resolve) => socket.once('close', () => { closed = true; resolve() }))
  await new Promise((resolve) => socket.once('connect', resolve))
  const head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`
  socket.write(head)
  bytesSent += head.length
  // One header byte every second: never a complete request.
  const drip = setInterval(() => {
    if (closed) return
    socket.write('X')
    bytesSent++
  }, 1000)
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, limitMs).unref())
  await Promise.race([ended, deadline])
  clearInterval(drip)
  const result = { closedByServer: closed, heldMs: Date.now() - started, bytesSent }
  socket.destroy()
  return result
}

t.test('a client that never finishes its headers is disconnected by both services', async (t) => {
  const storage = await useStorage(t, 'slow_client')
  const timeouts = { HTTP_REQUEST_TIMEOUT_MS: '3000' }
  const ingest = await startIngest(t, storage, timeouts)
  const gateway = await startGateway(t, storage, timeouts)
  // Held clients: an SSE stream and a long-poll of 12 s, both open before the slow clients and past their cut.
  const created = await deliver(() => [ingest.url], 'PUT', '/v1/orders/held-1', orderBody('ws_CO_held1'), 'msg_held_1')
  t.equal(created.status, 200)
  const token = created.body.subscribeToken as string
  const stream = new SseFollower(() => [gateway.url], '/api/orders/held-1/events', token).start()
  t.teardown(() => stream.stop())
  const longPoll = call(`${gateway.url}/api/orders/held-1/wait?since=1&timeout=12000`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 30_000 })
  const [toIngest, toGateway] = await Promise.all([
    holdHeaders(ingest.port, '/webhooks/mpesa/x', 60_000),
    holdHeaders(gateway.port, '/api/orders/x/events', 60_000)
  ])
  t.ok(toIngest.closedByServer, `the ingest closed the connection (held ${toIngest.heldMs} ms)`)
  t.ok(toGateway.closedByServer, `the gateway closed the connection (held ${toGateway.heldMs} ms)`)
  t.ok(stream.connected, 'the SSE stream held meanwhile is still open')
  t.equal(stream.connects, 1, 'and was never cut')
  const polled = await longPoll
  t.equal(polled.status, 200, 'the long-poll held past the cut answered at its own timeout')
  t.ok(ingest.running && gateway.running, 'both services still run')
  recordFigures('slow-client', { ingest: toIngest, gateway: toGateway, heldSseConnects: stream.connects, heldLongPollStatus: polled.status })
})
