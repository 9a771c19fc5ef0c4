// Slow clients holding headers (slow loris): both services close a connection whose request headers never
// finish, so such clients cannot hold sockets forever. The services run with a 3 s HTTP_REQUEST_TIMEOUT_MS;
// Node enforces it on its 30 s connection sweep, so the close comes within about 33 s. The test asserts
// the close, and records how long it took.
import t from 'tap'
import { connect } from 'node:net'
import { startGateway, startIngest } from '../support/processes.js'
import { recordFigures, useStorage } from '../support/storage.js'

async function holdHeaders (port: number, path: string, limitMs: number): Promise<{ closedByServer: boolean, heldMs: number, bytesSent: number }> {
  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  let bytesSent = 0
  let closed = false
  socket.on('error', () => {})
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
  const [toIngest, toGateway] = await Promise.all([
    holdHeaders(ingest.port, '/webhooks/mpesa/x', 60_000),
    holdHeaders(gateway.port, '/api/orders/x/events', 60_000)
  ])
  t.ok(toIngest.closedByServer, `the ingest closed the connection (held ${toIngest.heldMs} ms)`)
  t.ok(toGateway.closedByServer, `the gateway closed the connection (held ${toGateway.heldMs} ms)`)
  t.ok(ingest.running && gateway.running, 'both services still run')
  recordFigures('slow-client', { ingest: toIngest, gateway: toGateway })
})
