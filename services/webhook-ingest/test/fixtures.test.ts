import t from 'tap'
import { StreamLayout, readSnapshot } from '@herald/streams'
import type { OrderEvent, OrderUpsertBody, PaymentOutcome, PaymentStatus } from '@herald/contracts'
import {
  buildIngest, eventually, fixture, fixtureJson, orderBody, postCallback, putOrder, streamEntries, testRedis
} from './helper.js'

interface Case {
  fixture: string
  provider: 'payhero' | 'mpesa'
  order: Partial<OrderUpsertBody>
  ack: unknown
  paymentStatus: PaymentStatus
  status: string
  outcome: PaymentOutcome
  resultCode: number | null
  receipt: string | null
}

const cases: Case[] = [
  {
    fixture: 'daraja-stk-success',
    provider: 'mpesa',
    order: { totalAmount: 1, provider: 'mpesa', references: { checkoutRequestId: 'ws_CO_17112022155730304796440427' } },
    ack: { ResultCode: 0, ResultDesc: 'Accepted' },
    paymentStatus: 'completed',
    status: 'paid',
    outcome: 'completed',
    resultCode: 0,
    receipt: 'QKH94M1Z11'
  },
  {
    fixture: 'daraja-stk-cancelled',
    provider: 'mpesa',
    order: { totalAmount: 1, provider: 'mpesa', references: { checkoutRequestId: 'ws_CO_17112022155511840796440427' } },
    ack: { ResultCode: 0, ResultDesc: 'Accepted' },
    paymentStatus: 'cancelled',
    status: 'cancelled',
    outcome: 'cancelled',
    resultCode: 1032,
    receipt: null
  },
  {
    fixture: 'payhero-legacy-success',
    provider: 'payhero',
    order: { totalAmount: 10, provider: 'payhero', references: { checkoutRequestId: 'ws_CO_14012024103543427709099876', externalReference: 'INV-009' } },
    ack: { success: true, disposition: 'applied' },
    paymentStatus: 'completed',
    status: 'paid',
    outcome: 'completed',
    resultCode: 0,
    receipt: 'SAE3YULR0Y'
  },
  {
    fixture: 'payhero-legacy-cancelled',
    provider: 'payhero',
    order: { totalAmount: 10, provider: 'payhero', references: { externalReference: 'INV-010' } },
    ack: { success: true, disposition: 'applied' },
    paymentStatus: 'cancelled',
    status: 'cancelled',
    outcome: 'cancelled',
    resultCode: 1032,
    receipt: null
  },
  {
    fixture: 'payhero-africa-success',
    provider: 'payhero',
    order: { totalAmount: 1, provider: 'payhero', references: { externalReference: 'test_ext', providerReference: 'UFD004453187.iI' } },
    ack: { success: true, disposition: 'applied' },
    paymentStatus: 'completed',
    status: 'paid',
    outcome: 'completed',
    resultCode: null,
    receipt: 'UFU51A2XO2'
  },
  {
    fixture: 'payhero-africa-cancelled',
    provider: 'payhero',
    order: { totalAmount: 1, provider: 'payhero', references: { externalReference: 'test_ext_2' } },
    ack: { success: true, disposition: 'applied' },
    paymentStatus: 'cancelled',
    status: 'cancelled',
    outcome: 'cancelled',
    resultCode: null,
    receipt: null
  }
]

t.test('each provider fixture, end to end: order state, one stream entry, the snapshot', async (t) => {
  const { app, prefix } = await buildIngest(t)
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 1 })
  for (const c of cases) {
    await t.test(c.fixture, async (t) => {
      const orderId = `ord_${c.fixture.replace(/-/g, '_')}`
      const put = await putOrder(app, orderId, orderBody(c.order))
      t.equal(put.statusCode, 200, 'order registered')
      const res = await postCallback(app, c.provider, fixture(c.fixture))
      t.equal(res.statusCode, 200)
      t.same(res.json(), c.ack, 'provider gets its acknowledgement')

      const { rows: [row] } = await app.pgPool.query('select payment_status, status, outcome, result_code, receipt, version from orders where id = $1', [orderId])
      t.same(row, { payment_status: c.paymentStatus, status: c.status, outcome: c.outcome, result_code: c.resultCode, receipt: c.receipt, version: 2 }, 'Postgres holds the new state')

      await eventually(async () => (await readSnapshot(redis, layout, 'order', orderId))?.version === 2, 20_000, 'snapshot v2')
      const entries = (await streamEntries(redis, prefix)).filter((e) => e.entityId === orderId)
      t.same(entries.map((e) => e.version), [1, 2], 'registration and callback: one stream entry each')
      const snapshot = await readSnapshot(redis, layout, 'order', orderId) as OrderEvent
      t.match(snapshot.order, {
        orderId,
        paymentStatus: c.paymentStatus,
        status: c.status,
        needsReview: false,
        payment: { provider: c.order.provider, outcome: c.outcome, resultCode: c.resultCode, receipt: c.receipt },
        customer: { email: 'jane.doe@example.com', firstName: 'Jane', lastName: 'Doe' },
        version: 2
      }, 'snapshot is the new state')
      t.same(JSON.parse(entries[1]!.json), snapshot, 'the stream entry carries the same event as the snapshot')

      const { rows: [record] } = await app.pgPool.query('select disposition, order_id, payload::text as payload from callbacks where order_id = $1', [orderId])
      t.equal(record.disposition, 'applied')
      const original = fixtureJson(c.fixture)
      const stored = JSON.parse(record.payload)
      const phoneOf = (body: any): unknown => body.response?.Phone ??
        body.Body?.stkCallback?.CallbackMetadata?.Item?.find((i: { Name: string }) => i.Name === 'PhoneNumber')?.Value
      const phone = phoneOf(original)
      if (phone !== undefined) {
        t.not(String(phoneOf(stored)), String(phone), 'the stored payload has the phone number masked')
        t.match(String(phoneOf(stored)), /^\+?\d{2,3}\*{5,}\d{3}$/, 'keeping only its first and last digits')
      }
      const references = (body: any) => [body.response?.CheckoutRequestID, body.Body?.stkCallback?.CheckoutRequestID, body.reference, body.external_reference]
      t.same(references(stored), references(original), 'references are stored intact for the audit trail')
    })
  }
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /herald_ingest_callbacks_total\{provider="mpesa",outcome="completed",disposition="applied"/)
  // Published rows are marked in batches just after their publish: wait for the last mark.
  await eventually(async () => /herald_ingest_outbox_backlog\{service="webhook-ingest"\} 0/.test((await app.inject({ method: 'GET', url: '/metrics' })).body), 20_000, 'the outbox backlog to reach 0')
  t.pass('the outbox backlog reached 0')
  t.match(metrics.body, /herald_ingest_outbox_publish_latency_seconds_count\{[^}]*path="immediate"[^}]*\} [1-9]/)
})
