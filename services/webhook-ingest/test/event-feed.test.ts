import t from 'tap'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import type { EventFeedItem } from '@herald/contracts'
import { buildIngest, eventually, orderBody, postCallback, putOrder, signedHeaders } from './helper.js'

type App = Awaited<ReturnType<typeof buildIngest>>['app']
const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` }

const cancel = (checkout: string, code: number) => JSON.stringify({ Body: { stkCallback: { MerchantRequestID: 'm-1', CheckoutRequestID: checkout, ResultCode: code, ResultDesc: `result ${code}` } } })

async function page (app: App, query: string) {
  return app.inject({ method: 'GET', url: `/v1/events${query}`, headers: admin })
}

t.test('the pull feed pages through every event exactly once, in commit order, while events are being written', async (t) => {
  const { app } = await buildIngest(t)
  let writing = true
  const writer = (async () => {
    await Promise.all(Array.from({ length: 12 }, async (_, i) => {
      await putOrder(app, `ord_feed_${i}`, orderBody({ references: { checkoutRequestId: `ws_CO_feed_${i}` } }))
      await postCallback(app, 'mpesa', cancel(`ws_CO_feed_${i}`, 7001))
      await postCallback(app, 'mpesa', cancel(`ws_CO_feed_${i}`, 1032))
    }))
    writing = false
  })()
  const seen: EventFeedItem[] = []
  let cursor = '0'
  const deadline = Date.now() + 60_000
  for (;;) {
    if (Date.now() > deadline) throw new Error(`the feed stopped at ${seen.length} events`)
    const res = await page(app, `?after=${cursor}&limit=7`)
    t.equal(res.statusCode, 200)
    const body = res.json()
    seen.push(...body.events)
    cursor = body.next
    if (!writing && !body.hasMore && seen.length >= 36) break
    if (!writing && !body.hasMore) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await writer
  t.equal(seen.length, 36, 'twelve orders, three events each')
  const cursors = seen.map((e) => BigInt(e.cursor))
  t.ok(cursors.every((c, i) => i === 0 || c > cursors[i - 1]!), 'cursors strictly increase (commit order, none twice)')
  const { rows } = await app.pgPool.query('select id::text from outbox order by outbox.id')
  t.same(seen.map((e) => e.cursor), rows.map((r) => r.id), 'exactly the outbox, nothing skipped')
  const versions = new Map<string, number[]>()
  for (const e of seen) if (e.type === 'order.updated') versions.set(e.data.orderId, [...(versions.get(e.data.orderId) ?? []), e.data.version])
  t.ok([...versions.values()].every((v) => v.join() === '1,2,3'), 'each order in version order')
  t.match(seen[0], { type: 'order.updated', timestamp: String, data: { customer: { email: 'jane.doe@example.com' } } })

  const end = await page(app, `?after=${cursor}`)
  t.same(end.json(), { success: true, events: [], next: cursor, hasMore: false }, 'at the end: no events, the same cursor')
})

t.test('the pull feed takes an admin token or a signed request, and refuses bad cursors', async (t) => {
  const { app } = await buildIngest(t)
  await putOrder(app, 'ord_auth', orderBody())
  t.equal((await app.inject({ method: 'GET', url: '/v1/events' })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/v1/events', headers: { authorization: 'Bearer wrong-token-0123456789' } })).statusCode, 401)
  const signed = await app.inject({ method: 'GET', url: '/v1/events', headers: signedHeaders('') })
  t.equal(signed.statusCode, 200, 'signed over the empty body')
  await eventually(async () => (await page(app, '')).json().events.length === 1, 10_000, 'the event')
  const bad = await page(app, '?after=abc')
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { code: 'HERALD_ERR_VALIDATION', error: /after/ })
  t.equal((await page(app, '?limit=0')).statusCode, 400)
})

t.test('past retention, the feed answers 410 naming the oldest cursor still available', async (t) => {
  const { app } = await buildIngest(t)
  for (const n of [1, 2, 3]) await putOrder(app, `ord_old_${n}`, orderBody({ orderNumber: `INV-${n}` }))
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending')).rows.length === 0, 20_000, 'published')
  await app.pgPool.query("update outbox set created_at = now() - interval '8 days' where entity_id in ('ord_old_1', 'ord_old_2')")
  t.match(await app.recordRetention.sweep(), { outbox: 2 })
  const { rows: [kept] } = await app.pgPool.query("select id::text from outbox where entity_id = 'ord_old_3'")
  const oldest = String(BigInt(kept.id) - 1n)
  const gone = await page(app, '?after=0')
  t.equal(gone.statusCode, 410)
  t.match(gone.json(), { success: false, code: 'HERALD_ERR_CURSOR_EXPIRED', error: new RegExp(`oldest cursor still available is ${oldest}`), details: { oldestCursor: oldest } })
  const resumed = await page(app, `?after=${oldest}`)
  t.equal(resumed.statusCode, 200)
  t.same(resumed.json().events.map((e: EventFeedItem) => e.cursor), [kept.id])
  t.same((await page(app, '')).json().events.map((e: EventFeedItem) => e.cursor), [kept.id], 'no cursor: from the oldest kept')
})
