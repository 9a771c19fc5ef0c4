import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { openEventStream, reconnectDelay } from '../src/event-stream.ts'
import { followRegistration } from '../src/follow.ts'
import type { HeraldClientError } from '../src/errors.ts'
import { FakeClock } from './fake-clock.ts'

type Handler = (req: IncomingMessage, res: ServerResponse, connection: number) => void

/** A local HTTP server speaking text/event-stream, scripted per connection. */
async function sseServer (t: { teardown (fn: () => unknown): void }, handler: Handler) {
  let connections = 0
  const urls: URL[] = []
  const server = createServer((req, res) => {
    urls.push(new URL(req.url ?? '/', 'http://x'))
    handler(req, res, ++connections)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { base, urls }
}

function startStream (res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.flushHeaders()
}

const update = (registrationId: string, stage: string, stageStatus: string) => JSON.stringify({
  type: 'update',
  data: { registrationId, status: 'PENDING', stage, stageStatus, message: `${stage} ${stageStatus}`, timestamp: 0 },
  timestamp: 0
})

async function until (condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('parses data lines split across writes, keeps ids, and passes each JSON payload once', async (t) => {
  const { base } = await sseServer(t, (_req, res) => {
    startStream(res)
    res.write('data: {"type":"connected","timestamp":0}\n\n')
    res.write(': a comment the parser ignores\n\nid: 7\nda')
    setTimeout(() => res.write(`ta: ${update('r1', 'duplicate_check', 'started')}\n\n`), 20)
    setTimeout(() => res.write('data: not json\n\n'), 40)
    setTimeout(() => res.write(`id: 8\ndata: ${update('r1', 'duplicate_check', 'completed')}\n\n`), 60)
  })
  const got: Array<{ message: any, id: string | undefined }> = []
  const stream = openEventStream({ url: () => `${base}/s`, onMessage: (message, id) => got.push({ message, id }) })
  t.teardown(() => stream.close())
  await until(() => got.length === 3, 'three messages')
  t.equal(got[0]!.message.type, 'connected')
  t.same(got.slice(1).map((m) => [m.id, m.message.data.stageStatus]), [['7', 'started'], ['8', 'completed']])
  t.equal(stream.lastEventId, '8')
})

t.test('after the server ends the stream, it reconnects after closing.retryMs and resumes with lastEventId', async (t) => {
  const { base, urls } = await sseServer(t, (_req, res, n) => {
    startStream(res)
    if (n === 1) {
      res.write(`id: 3\ndata: ${update('r1', 'core_banking_lookup', 'started')}\n\n`)
      res.end('data: {"type":"closing","reason":"shutdown","retryMs":1234,"timestamp":0}\n\n')
    } else {
      res.write(`id: 4\ndata: ${update('r1', 'core_banking_lookup', 'completed')}\n\n`)
    }
  })
  const clock = new FakeClock()
  const ids: Array<string | undefined> = []
  const disconnects: Array<number | undefined> = []
  const stream = openEventStream({
    url: (lastEventId) => `${base}/s${lastEventId === undefined ? '' : `?lastEventId=${lastEventId}`}`,
    clock,
    onMessage: (_message, id) => ids.push(id),
    onDisconnect: (retry) => disconnects.push(retry)
  })
  t.teardown(() => stream.close())
  await until(() => ids.length === 3, 'the update after the reconnect')
  t.same(ids, ['3', undefined, '4'])
  t.same(disconnects, [1234])
  t.same(clock.sleeps, [1234], 'waited as long as the closing message said')
  t.equal(urls[0]!.searchParams.get('lastEventId'), null)
  t.equal(urls[1]!.searchParams.get('lastEventId'), '3', 'resumed after the last id it saw')
})

t.test('a refused connection with a 4xx stops for good and reports the error body code', async (t) => {
  const { base, urls } = await sseServer(t, (_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ success: false, error: 'a valid token is required', code: 'HERALD_ERR_UNAUTHORIZED' }))
  })
  const errors: Array<[HeraldClientError, boolean]> = []
  const stream = openEventStream({ url: () => `${base}/s`, onMessage: () => {}, onError: (e, retry) => errors.push([e, retry]) })
  t.teardown(() => stream.close())
  await until(() => errors.length === 1, 'the error')
  t.equal(errors[0]![0].code, 'HERALD_ERR_UNAUTHORIZED')
  t.equal(errors[0]![0].status, 401)
  t.equal(errors[0]![1], false)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(urls.length, 1, 'did not try again')
})

t.test('5xx and dropped connections are retried with growing pauses', async (t) => {
  const { base } = await sseServer(t, (req, res, n) => {
    if (n <= 2) {
      res.writeHead(503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ success: false, error: 'not ready', code: 'HERALD_ERR_UNAVAILABLE' }))
      return
    }
    if (n === 3) { req.socket.destroy(); return }
    startStream(res)
    res.write('data: {"type":"connected","timestamp":0}\n\n')
  })
  const clock = new FakeClock()
  const errors: string[] = []
  let connected = false
  const stream = openEventStream({
    url: () => `${base}/s`,
    clock,
    random: () => 0.999,
    initialDelayMs: 100,
    onMessage: (message: any) => { if (message.type === 'connected') connected = true },
    onError: (e, retry) => errors.push(`${e.code}:${retry}`)
  })
  t.teardown(() => stream.close())
  await until(() => connected, 'the connection')
  t.same(errors, ['HERALD_ERR_UNAVAILABLE:true', 'HERALD_ERR_UNAVAILABLE:true', 'HERALD_CLIENT_NETWORK:true'])
  t.same(clock.sleeps, [100, 200, 400])
})

t.test('a silent connection is dropped by the idle watchdog and reopened', async (t) => {
  const { base } = await sseServer(t, (_req, res, n) => {
    startStream(res)
    res.write(`id: ${n}\ndata: {"type":"connected","timestamp":0}\n\n`)
  })
  const clock = new FakeClock()
  const ids: Array<string | undefined> = []
  const stream = openEventStream({ url: () => `${base}/s`, clock, onMessage: (_m, id) => ids.push(id) })
  t.teardown(() => stream.close())
  await until(() => ids.length === 1 && clock.pendingTimers === 1, 'the first connection')
  clock.fireTimers()
  await until(() => ids.length === 2, 'the second connection')
  t.same(ids, ['1', '2'])
})

t.test('reconnectDelay grows exponentially, is capped, and jitters in its upper half', async (t) => {
  t.equal(reconnectDelay(1, {}, () => 0), 500)
  t.equal(reconnectDelay(1, {}, () => 0.9999), 1000)
  t.equal(reconnectDelay(3, { initialDelayMs: 100 }, () => 1), 400)
  t.equal(reconnectDelay(20, { initialDelayMs: 1000, maxDelayMs: 30_000 }, () => 1), 30_000)
  t.equal(reconnectDelay(20, { initialDelayMs: 1000, maxDelayMs: 30_000 }, () => 0), 15_000)
})

t.test('followRegistration drops an update it has already seen after a replay, and reports the connection', async (t) => {
  const authorizations: Array<string | undefined> = []
  const { base, urls } = await sseServer(t, (req, res, n) => {
    authorizations.push(req.headers.authorization)
    startStream(res)
    res.write('data: {"type":"connected","timestamp":0}\n\n')
    // The replay overlaps what was delivered before the drop: at-least-once delivery.
    res.write(`id: 1\ndata: ${update('42', 'duplicate_check', 'started')}\n\n`)
    res.write(`id: 2\ndata: ${update('42', 'duplicate_check', 'completed')}\n\n`)
    if (n === 1) { res.end(); return }
    res.write(`id: 3\ndata: ${update('42', 'core_banking_lookup', 'started')}\n\n`)
    res.write('data: {"type":"reset","reason":"retention","data":null,"timestamp":0}\n\n')
  })
  const clock = new FakeClock()
  const seen: string[] = []
  const connection: boolean[] = []
  const resets: string[] = []
  const unsubscribe = followRegistration('42', {
    onUpdate: (u, id) => seen.push(`${id}:${u.stage}:${u.stageStatus}`),
    onConnectionChange: (c) => connection.push(c),
    onReset: (_snapshot, reason) => resets.push(reason)
  }, { baseUrl: base, token: 'sub-token', clock })
  await until(() => resets.length === 1, 'the reset')
  unsubscribe()
  t.same(seen, ['1:duplicate_check:started', '2:duplicate_check:completed', '3:core_banking_lookup:started'])
  t.same(connection, [true, false, true, false])
  t.equal(urls[0]!.pathname, '/api/registrations/updates/stream')
  t.equal(urls[0]!.searchParams.get('registrationId'), '42')
  t.equal(urls[0]!.searchParams.get('token'), null, 'the token is not in the URL')
  t.same(authorizations, ['Bearer sub-token', 'Bearer sub-token'], 'but in the Authorization header of every connection')
  t.equal(urls[1]!.searchParams.get('lastEventId'), '2')
})
