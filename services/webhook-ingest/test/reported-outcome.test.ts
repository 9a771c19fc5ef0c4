import t from 'tap'
import { buildIngest, orderBody, putOrder, signedHeaders } from './helper.js'

type App = Awaited<ReturnType<typeof buildIngest>>['app']

function report (app: App, orderId: string, body: unknown, options: { id?: string, signed?: boolean } = {}) {
  const payload = JSON.stringify(body)
  const headers = options.signed === false ? { 'content-type': 'application/json' } : signedHeaders(payload, options)
  return app.inject({ method: 'POST', url: `/v1/orders/${orderId}/outcome`, payload, headers })
}

t.test('a reported outcome goes through the state machine, idempotently', async (t) => {
  const { app } = await buildIngest(t)
  await putOrder(app, 'ord_rep', orderBody({ totalAmount: 250, references: { checkoutRequestId: 'ws_CO_rep' } }))
  const first = await report(app, 'ord_rep', { outcome: 'completed', resultCode: 0, receipt: 'QKH1', amount: 250, currency: 'KES' }, { id: 'msg_rep_1' })
  t.equal(first.statusCode, 200)
  t.match(first.json(), { success: true, disposition: 'applied', order: { paymentStatus: 'completed', status: 'paid', version: 2, payment: { outcome: 'completed', receipt: 'QKH1', resultCode: 0 } } })
  const replay = await report(app, 'ord_rep', { outcome: 'completed', resultCode: 0, receipt: 'QKH1', amount: 250, currency: 'KES' }, { id: 'msg_rep_1' })
  t.same(replay.json(), first.json(), 'the same webhook-id answers what it answered')
  const again = await report(app, 'ord_rep', { outcome: 'completed' }, { id: 'msg_rep_2' })
  t.equal(again.statusCode, 200)
  t.match(again.json(), { disposition: 'duplicate', order: { version: 2 } }, 'the same outcome again changes nothing')
  const { rows } = await app.pgPool.query("select provider, disposition, order_id from callbacks where provider = 'backend' order by id")
  t.same(rows, [{ provider: 'backend', disposition: 'applied', order_id: 'ord_rep' }, { provider: 'backend', disposition: 'duplicate', order_id: 'ord_rep' }], 'recorded like callbacks')
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /herald_ingest_callbacks_total\{[^}]*provider="backend"[^}]*\} 1/)
})

t.test('a reported outcome with the wrong amount is refused and recorded for review', async (t) => {
  const { app } = await buildIngest(t)
  await putOrder(app, 'ord_amt', orderBody({ totalAmount: 250 }))
  const res = await report(app, 'ord_amt', { outcome: 'completed', amount: 25 })
  t.equal(res.statusCode, 409)
  t.match(res.json(), { code: 'HERALD_ERR_OUTCOME_CONFLICT', error: /amount or currency does not match/, details: { reviewKind: 'amount_mismatch', order: { paymentStatus: 'pending', needsReview: true } } })
  const other = await report(app, 'ord_amt', { outcome: 'completed', currency: 'USD' })
  t.equal(other.statusCode, 409, 'a currency that is not the order\'s too')
  const { rows } = await app.pgPool.query("select kind from review_items where order_id = 'ord_amt'")
  t.same(rows.map((r) => r.kind), ['amount_mismatch', 'amount_mismatch'])
})

t.test('bad reports get a clear 4xx and change nothing', async (t) => {
  const { app } = await buildIngest(t)
  await putOrder(app, 'ord_bad', orderBody())
  const unsigned = await report(app, 'ord_bad', { outcome: 'completed' }, { signed: false })
  t.equal(unsigned.statusCode, 401)
  const unknownOrder = await report(app, 'ord_missing', { outcome: 'completed' })
  t.equal(unknownOrder.statusCode, 404)
  t.match(unknownOrder.json(), { code: 'HERALD_ERR_NOT_FOUND', error: /ord_missing/ })
  const badOutcome = await report(app, 'ord_bad', { outcome: 'paid' })
  t.equal(badOutcome.statusCode, 400)
  t.match(badOutcome.json(), { code: 'HERALD_ERR_VALIDATION', error: /outcome/ })
  const extra = await report(app, 'ord_bad', { outcome: 'completed', orderId: 'x' })
  t.equal(extra.statusCode, 400)
  const { rows: [order] } = await app.pgPool.query("select version, payment_status from orders where id = 'ord_bad'")
  t.same(order, { version: 1, payment_status: 'pending' }, 'unchanged')
  const retried = await report(app, 'ord_missing', { outcome: 'completed' }, { id: 'msg_missing' })
  t.equal(retried.statusCode, 404)
  await putOrder(app, 'ord_missing', orderBody({ orderNumber: 'INV-M' }))
  t.equal((await report(app, 'ord_missing', { outcome: 'completed' }, { id: 'msg_missing' })).statusCode, 200, 'a 404 kept nothing: the same webhook-id works once the order exists')
})
