import t from 'tap'
import { StreamLayout, readSnapshot } from '@herald/streams'
import type { OrderEvent } from '@herald/contracts'
import {
  buildIngest, darajaCallback, eventually, fixture, orderBody, postCallback, putOrder, streamEntries, testRedis
} from './helper.js'

const DARAJA_SUCCESS_CHECKOUT = 'ws_CO_17112022155730304796440427'

t.test('the same callback 5 times at once: one state change, one stream entry, five 2xx', async (t) => {
  const { app, prefix } = await buildIngest(t)
  const redis = testRedis(t)
  await putOrder(app, 'ord_dup', orderBody({ totalAmount: 10, provider: 'payhero', references: { checkoutRequestId: 'ws_CO_14012024103543427709099876', externalReference: 'INV-009' } }))
  const payload = fixture('payhero-legacy-success')
  const answers = await Promise.all(Array.from({ length: 5 }, () => postCallback(app, 'payhero', payload)))
  t.same(answers.map((a) => a.statusCode), [200, 200, 200, 200, 200])
  t.same(answers.map((a) => a.json().disposition).sort(), ['applied', 'duplicate', 'duplicate', 'duplicate', 'duplicate'])
  const { rows: [order] } = await app.pgPool.query('select version, payment_status from orders where id = $1', ['ord_dup'])
  t.same(order, { version: 2, payment_status: 'completed' }, 'one state change')
  const { rows: [{ n }] } = await app.pgPool.query('select count(*)::int as n from callbacks')
  t.equal(n, 1, 'one callback record')
  await eventually(async () => (await streamEntries(redis, prefix)).length >= 2)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same((await streamEntries(redis, prefix)).map((e) => e.version), [1, 2], 'one stream entry for the change')
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /herald_ingest_duplicates_total\{[^}]*source="payhero"[^}]*\} 4/)
})

t.test('a callback before its order is parked, then applied when the order is registered', async (t) => {
  const { app, prefix } = await buildIngest(t)
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 1 })
  // First an unknown result, then the success: both parked, applied in arrival order.
  const unknown = await postCallback(app, 'mpesa', darajaCallback(DARAJA_SUCCESS_CHECKOUT, 4242))
  const success = await postCallback(app, 'mpesa', fixture('daraja-stk-success'))
  t.same([unknown.statusCode, success.statusCode], [200, 200])
  t.same(success.json(), { ResultCode: 0, ResultDesc: 'Accepted' })
  const parked = await app.pgPool.query('select provider, checkout_request_id, applied_at from parked_callbacks order by id')
  t.equal(parked.rows.length, 2, 'both parked')
  t.equal((await app.pgPool.query('select 1 from orders')).rows.length, 0, 'no order invented')

  const put = await putOrder(app, 'ord_parked', orderBody({ totalAmount: 1, references: { checkoutRequestId: DARAJA_SUCCESS_CHECKOUT } }))
  t.equal(put.statusCode, 200)
  t.match(put.json().order, { paymentStatus: 'completed', status: 'paid', version: 3, needsReview: true, payment: { outcome: 'completed', receipt: 'QKH94M1Z11' } },
    'the answer already carries the applied callbacks (needsReview stays from the unknown code)')
  const applied = await app.pgPool.query('select order_id from parked_callbacks where applied_at is not null')
  t.equal(applied.rows.length, 2, 'parked callbacks marked applied')
  const dispositions = await app.pgPool.query('select disposition from callbacks order by id')
  t.same(dispositions.rows.map((r) => r.disposition), ['applied', 'applied'])
  await eventually(async () => (await readSnapshot(redis, layout, 'order', 'ord_parked'))?.version === 3)
  const entries = await streamEntries(redis, prefix)
  t.same(entries.map((e) => e.version), [1, 2, 3], 'registered, processing, completed: in order')
  t.same(entries.map((e) => (JSON.parse(e.json) as OrderEvent).order.paymentStatus), ['pending', 'processing', 'completed'])

  const again = await postCallback(app, 'mpesa', fixture('daraja-stk-success'))
  t.equal(again.statusCode, 200, 'the parked callback retried after application is a duplicate')
  t.equal((await app.pgPool.query('select version from orders')).rows[0].version, 3)
})

t.test('an order and its callback racing: the callback is never left parked', async (t) => {
  const { app } = await buildIngest(t)
  await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const checkout = `ws_CO_race_${i}`
    const [put, cb] = await Promise.all([
      putOrder(app, `ord_race_${i}`, orderBody({ references: { checkoutRequestId: checkout } })),
      postCallback(app, 'mpesa', darajaCallback(checkout, 0))
    ])
    t.same([put.statusCode, cb.statusCode], [200, 200])
  }))
  const { rows } = await app.pgPool.query("select count(*)::int as n from orders where payment_status = 'completed'")
  t.equal(rows[0].n, 10, 'every order completed')
  const unapplied = await app.pgPool.query('select count(*)::int as n from parked_callbacks where applied_at is null')
  t.equal(unapplied.rows[0].n, 0, 'nothing left parked')
})

t.test('success after cancel: recorded for review, answered 2xx, not applied', async (t) => {
  const { app, prefix } = await buildIngest(t)
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 1 })
  await putOrder(app, 'ord_late', orderBody({ references: { checkoutRequestId: 'ws_CO_late' } }))
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_late', 1032))).statusCode, 200)
  const late = await postCallback(app, 'mpesa', darajaCallback('ws_CO_late', 0))
  t.equal(late.statusCode, 200)
  t.same(late.json(), { ResultCode: 0, ResultDesc: 'Accepted' })
  const { rows: [order] } = await app.pgPool.query('select payment_status, status, outcome, needs_review, version from orders')
  t.same(order, { payment_status: 'cancelled', status: 'cancelled', outcome: 'cancelled', needs_review: true, version: 3 }, 'still cancelled, flagged for review')
  const { rows: reviews } = await app.pgPool.query('select order_id, kind, from_status, attempted_status from review_items')
  t.same(reviews, [{ order_id: 'ord_late', kind: 'final_state_conflict', from_status: 'cancelled', attempted_status: 'completed' }])
  const { rows: records } = await app.pgPool.query('select disposition from callbacks order by id')
  t.same(records.map((r) => r.disposition), ['applied', 'review'])
  await eventually(async () => (await readSnapshot(redis, layout, 'order', 'ord_late'))?.version === 3)
  t.match((await readSnapshot(redis, layout, 'order', 'ord_late') as OrderEvent).order, { paymentStatus: 'cancelled', needsReview: true })

  const payhero = await app.inject({
    method: 'POST',
    url: '/webhooks/payhero/test-payhero-token-0123456789',
    payload: { success: true, status: 'success', reference: 'PH-late', amount: 10, currency: 'KES' },
    headers: { 'content-type': 'application/json' }
  })
  t.equal(payhero.statusCode, 200)
  t.same(payhero.json(), { success: true, disposition: 'parked' }, 'PayHero is told what happened')
})

t.test('an amount or currency mismatch is recorded for review and not applied', async (t) => {
  const { app } = await buildIngest(t)
  await putOrder(app, 'ord_amount', orderBody({ totalAmount: 1000, references: { checkoutRequestId: 'ws_CO_amount' } }))
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_amount', 0, 1))).statusCode, 200)
  await putOrder(app, 'ord_ccy', orderBody({ totalAmount: 1, currency: 'USD', provider: 'payhero', references: { externalReference: 'test_ext' } }))
  const ccy = await postCallback(app, 'payhero', fixture('payhero-africa-success'))
  t.same(ccy.json(), { success: true, disposition: 'review' })
  const { rows } = await app.pgPool.query('select id, payment_status, needs_review from orders order by id')
  t.same(rows, [
    { id: 'ord_amount', payment_status: 'pending', needs_review: true },
    { id: 'ord_ccy', payment_status: 'pending', needs_review: true }
  ], 'neither order was paid')
  const { rows: reviews } = await app.pgPool.query('select order_id, kind, details from review_items order by id')
  t.same(reviews.map((r) => [r.order_id, r.kind]), [['ord_amount', 'amount_mismatch'], ['ord_ccy', 'amount_mismatch']])
  t.match(reviews[0].details, { expected: { amount: 1000, currency: 'KES' }, received: { amount: 1, currency: 'KES' } })
})

t.test('an unknown result code leaves the payment processing and flagged, and a later result still lands', async (t) => {
  const { app } = await buildIngest(t)
  await putOrder(app, 'ord_unknown', orderBody({ references: { checkoutRequestId: 'ws_CO_unknown' } }))
  await postCallback(app, 'mpesa', darajaCallback('ws_CO_unknown', 4999))
  let { rows: [order] } = await app.pgPool.query('select payment_status, status, outcome, result_code, needs_review from orders')
  t.same(order, { payment_status: 'processing', status: 'pending', outcome: 'unknown', result_code: 4999, needs_review: true }, 'never paid')
  await postCallback(app, 'mpesa', darajaCallback('ws_CO_unknown', 1037))
  ;({ rows: [order] } = await app.pgPool.query('select payment_status, status, outcome, result_code, needs_review from orders'))
  t.same(order, { payment_status: 'failed', status: 'failed', outcome: 'expired', result_code: 1037, needs_review: true }, 'an expired push is failed with outcome expired')
})

t.test('PUT /v1/orders: updates make a new version, no-op updates do not, a final amount cannot change, replays answer the same', async (t) => {
  const { app } = await buildIngest(t)
  const first = await putOrder(app, 'ord_upd', orderBody(), { id: 'msg_upd_1' })
  t.equal(first.json().order.version, 1)
  t.match(first.json(), { success: true, subscribeToken: /^hst1\./ })
  const replay = await putOrder(app, 'ord_upd', orderBody({ ticketCount: 99 }), { id: 'msg_upd_1' })
  t.equal(replay.statusCode, 200, 'a replayed webhook-id answers 2xx')
  t.same(replay.json().order, first.json().order, 'with the stored answer, changing nothing')
  const stolen = await putOrder(app, 'ord_other', orderBody(), { id: 'msg_upd_1' })
  t.equal(stolen.statusCode, 401, 'a webhook-id replayed against another order is refused')
  t.equal((await app.pgPool.query("select 1 from orders where id = 'ord_other'")).rows.length, 0)

  const same = await putOrder(app, 'ord_upd', orderBody())
  t.equal(same.json().order.version, 1, 'nothing changed, no new version')
  const changed = await putOrder(app, 'ord_upd', orderBody({ ticketCount: 3, references: { checkoutRequestId: 'ws_CO_upd' } }))
  t.match(changed.json().order, { version: 2, ticketCount: 3, payment: { checkoutRequestId: 'ws_CO_upd' } })
  await postCallback(app, 'mpesa', darajaCallback('ws_CO_upd', 0))
  const late = await putOrder(app, 'ord_upd', orderBody({ totalAmount: 20 }))
  t.equal(late.statusCode, 409)
  t.match(late.json(), { success: false, code: 'HERALD_ERR_CONFLICT' })
  const clash = await putOrder(app, 'ord_clash', orderBody({ references: { checkoutRequestId: 'ws_CO_upd' } }))
  t.equal(clash.statusCode, 409, 'a reference already used by another order')
  const { rows } = await app.pgPool.query('select id, total_amount, version from orders order by id')
  t.same(rows, [{ id: 'ord_upd', total_amount: '10.00', version: 3 }])
})
