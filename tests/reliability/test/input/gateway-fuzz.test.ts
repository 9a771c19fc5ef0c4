// Property-based fuzzing of every gateway parameter (ids, since, timeout, Last-Event-ID, tokens): never a
// 5xx, never a crash, never a line in an SSE stream that the client did not get from Herald.
import t from 'tap'
import fc from 'fast-check'
import { signSubscribeToken } from '@herald/contracts/subscribe-token'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { buildGatewayApp, buildIngestApp } from '../support/apps.js'
import { recordFigures, useStorage } from '../support/storage.js'
import { signedCall, orderBody, stageEvent } from '../support/traffic.js'
import { until } from '../support/processes.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const text = fc.string({ unit: 'binary', maxLength: 60 })
const headerSafe = fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).filter((v) => !/[\r\n\0]/.test(v))
const numberish = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 130_000 }).map(String) }, fc.integer().map(String), fc.double().map(String), text, fc.constantFrom('', '-1', '1e309', '0x10', '99999999999999999999', 'NaN', '1.5', ' 5'))
const SSE_LINE = /^(?:|id: [A-Za-z0-9_.:-]{1,160}|retry: \d+|data: .*|: .*)$/

t.test('gateway parameters under property-based fuzzing', async (t) => {
  const storage = await useStorage(t, 'gateway_fuzz')
  const ingest = await buildIngestApp(t, storage)
  const gateway = await buildGatewayApp(t, storage)
  const ingestUrl = await ingest.listen({ port: 0, host: '127.0.0.1' })
  const gatewayUrl = await gateway.listen({ port: 0, host: '127.0.0.1' })

  // Real entities, so valid ids and tokens exist to be mixed into the fuzz.
  const order = await signedCall(ingestUrl, 'PUT', '/v1/orders/fz-order', orderBody('ws_CO_fz'))
  const registration = await signedCall(ingestUrl, 'POST', '/v1/registrations/fz-reg/events', stageEvent(1))
  t.equal(order.status, 200)
  t.equal(registration.status, 200)
  const tokens = [
    order.body.subscribeToken as string,
    registration.body.subscribeToken as string,
    TEST_SECRETS.ADMIN_TOKEN,
    signSubscribeToken('another-secret-0123456789abcdef', { scope: 'admin', id: '*', exp: Date.now() + 60_000 }),
    signSubscribeToken(TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET, { scope: 'order', id: 'fz-order', exp: Date.now() - 1 })
  ]
  await until(async () => (await fetch(`${gatewayUrl}/api/orders/fz-order`, { headers: { authorization: `Bearer ${tokens[0]}` } })).status === 200, 'the order snapshot')

  const statuses: Record<string, number> = {}
  let tried = 0
  let sseLinesChecked = 0
  const idArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('fz-order', 'fz-reg', 'missing-1') }, text, fc.constantFrom('..%2F..%2Fetc', '%00', 'a%0Aid:%201', '__proto__'))
  const tokenArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...tokens) }, headerSafe, fc.constant(undefined))

  async function probe (path: string, token: string | undefined, headers: Record<string, string> = {}): Promise<boolean> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 1500)
    tried++
    try {
      const res = await fetch(`${gatewayUrl}${path}`, { headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers }, signal: controller.signal })
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      if (res.status >= 500) {
        t.fail(`${res.status} for ${path} ${JSON.stringify(headers)}: ${(await res.text()).slice(0, 300)}`)
        return false
      }
      if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        // Read what comes within the window, then check every line is one Herald writes.
        let body = ''
        try {
          for await (const chunk of res.body!) {
            body += Buffer.from(chunk).toString()
            if (body.includes('"type":"connected"') && body.split('\n\n').length > 2) break
          }
        } catch {}
        controller.abort()
        for (const line of body.split('\n')) {
          sseLinesChecked++
          if (!SSE_LINE.test(line)) {
            t.fail(`an SSE line Herald did not write: ${JSON.stringify(line)} for ${path} ${JSON.stringify(headers)}`)
            return false
          }
        }
      } else {
        await res.text()
      }
      return true
    } catch (err) {
      if (controller.signal.aborted) return true // a held long-poll: what matters is that it did not fail
      t.fail(`request failed: ${(err as Error).message} for ${path}`)
      return false
    } finally {
      clearTimeout(timer)
    }
  }

  await t.test('GET /api/orders/:orderId and /wait with arbitrary ids, since, timeout and tokens', async () => {
    await fc.assert(fc.asyncProperty(idArb, numberish, numberish, tokenArb, fc.boolean(), async (id, since, timeout, token, wait) => {
      const path = wait
        ? `/api/orders/${encodeURIComponent(id)}/wait?since=${encodeURIComponent(since)}&timeout=${encodeURIComponent(timeout)}`
        : `/api/orders/${encodeURIComponent(id)}`
      return probe(path, token)
    }), { numRuns: RUNS })
  })

  await t.test('SSE streams with arbitrary ids, Last-Event-ID (header and query) and tokens', async () => {
    await fc.assert(fc.asyncProperty(idArb, fc.oneof(headerSafe, fc.integer().map(String), fc.constantFrom('0', '-1', '1e309', '99999999999', 'fz-reg:1', 'a:b:c', 'id: 5')), fc.oneof(text, numberish), tokenArb, fc.constantFrom('order', 'registration', 'admin'),
      async (id, lastEventIdHeader, lastEventIdQuery, token, feed) => {
        const query = `lastEventId=${encodeURIComponent(lastEventIdQuery)}`
        const path = feed === 'order'
          ? `/api/orders/${encodeURIComponent(id)}/events?${query}`
          : feed === 'registration' ? `/api/registrations/updates/stream?registrationId=${encodeURIComponent(id)}&${query}` : `/api/registrations/updates/stream?${query}`
        return probe(path, token, lastEventIdHeader === '' ? {} : { 'last-event-id': lastEventIdHeader })
      }), { numRuns: RUNS })
  })

  await t.test('tokens in the query string, forged, expired and for the wrong entity', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.constantFrom(...tokens), text), idArb, async (token, id) => {
      return probe(`/api/registrations/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`, undefined)
    }), { numRuns: RUNS })
  })

  t.ok((await fetch(`${gatewayUrl}/healthz`)).ok, 'the gateway is alive after the fuzzing')
  t.comment(JSON.stringify({ tried, sseLinesChecked, statuses }))
  recordFigures('gateway-fuzz', { inputsTried: tried, sseLinesChecked, statuses })
})
