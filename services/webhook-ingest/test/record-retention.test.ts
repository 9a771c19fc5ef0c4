import t from 'tap'
import { buildIngest, eventually, orderBody, putOrder } from './helper.js'

t.test('published outbox rows and webhook-id receipts past their retention are deleted; everything else stays', async (t) => {
  // No sweep: the row made pending below stays pending.
  const { app } = await buildIngest(t, { OUTBOX_SWEEP_INTERVAL_MS: '3600000' })
  for (const n of [1, 2, 3]) {
    const res = await putOrder(app, `ord_ret_${n}`, orderBody({ orderNumber: `INV-R${n}`, references: { checkoutRequestId: `ws_CO_ret_${n}` } }), { id: `msg_ret_${n}` })
    t.equal(res.statusCode, 200)
  }
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending')).rows.length === 0, 20_000, 'the outbox to be published')
  // Order 1's records are eight days old; order 2's outbox row is old but was never published (Redis away).
  await app.pgPool.query("update outbox set created_at = now() - interval '8 days' where entity_id = 'ord_ret_1'")
  await app.pgPool.query("update webhook_receipts set received_at = now() - interval '8 days' where webhook_id = 'msg_ret_1'")
  await app.pgPool.query("update outbox set created_at = now() - interval '8 days' where entity_id = 'ord_ret_2'")
  await app.pgPool.query("insert into outbox_pending (id, entity_type, entity_id) select id, entity_type, entity_id from outbox where entity_id = 'ord_ret_2'")

  t.same(await app.recordRetention.sweep(), { outbox: 1, receipts: 1 })
  const { rows: outbox } = await app.pgPool.query('select entity_id from outbox order by entity_id')
  t.same(outbox.map((r) => r.entity_id), ['ord_ret_2', 'ord_ret_3'], 'an unpublished row is kept however old')
  const { rows: receipts } = await app.pgPool.query('select webhook_id from webhook_receipts order by webhook_id')
  t.same(receipts.map((r) => r.webhook_id), ['msg_ret_2', 'msg_ret_3'])
  const { rows: orders } = await app.pgPool.query('select count(*)::int as n from orders')
  t.equal(orders[0].n, 3, 'the orders themselves are kept')

  const replay = await putOrder(app, 'ord_ret_3', orderBody({ orderNumber: 'INV-R3', references: { checkoutRequestId: 'ws_CO_ret_3' } }), { id: 'msg_ret_3' })
  t.equal(replay.statusCode, 200)
  const { rows: [order] } = await app.pgPool.query("select version from orders where id = 'ord_ret_3'")
  t.equal(order.version, 1, 'a recent webhook-id is still recognised as a replay')
  t.same(await app.recordRetention.sweep(), { outbox: 0, receipts: 0 }, 'a second sweep finds nothing')
})
