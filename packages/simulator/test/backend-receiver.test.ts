import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { BackendReceiver, describeUpdate, type ReceivedUpdate } from '../src/backend-receiver.js'

const SECRET = `whsec_${Buffer.from('simulator-receiver-test-secret-01').toString('base64')}`

function order (version: number, paymentStatus = 'pending') {
  return {
    type: 'order.updated',
    timestamp: new Date().toISOString(),
    data: {
      orderId: 'ord_1',
      orderNumber: 'INV-1',
      paymentStatus,
      status: 'pending',
      totalAmount: 10,
      currency: 'KES',
      ticketCount: 1,
      customer: null,
      payment: { provider: 'mpesa', outcome: null, resultCode: null, resultDesc: null, receipt: null, checkoutRequestId: null },
      needsReview: false,
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      version
    }
  }
}

async function post (url: string, id: string, body: unknown, secret = SECRET): Promise<number> {
  const raw = JSON.stringify(body)
  const at = new Date()
  const res = await fetch(url, {
    method: 'POST',
    body: raw,
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, raw) }
  })
  return res.status
}

t.test('the receiver verifies, dedupes by webhook-id and flags older versions', async (t) => {
  const updates: ReceivedUpdate[] = []
  const receiver = new BackendReceiver({ secret: SECRET, onUpdate: (u) => updates.push(u) })
  const url = await receiver.listen(0)
  t.teardown(() => receiver.close())
  t.equal(await post(url, 'evt_2', order(2, 'completed')), 204)
  t.equal(await post(url, 'evt_2', order(2, 'completed')), 200, 'a repeat is answered 2xx')
  t.equal(await post(url, 'evt_1', order(1)), 204)
  const other = `whsec_${Buffer.from('another-secret-entirely-012345678').toString('base64')}`
  t.equal(await post(url, 'evt_3', order(3), other), 401, 'a wrong signature is refused')
  t.same(updates.map((u) => [u.webhookId, u.fresh]), [['evt_2', true], ['evt_1', false]])
  t.equal(receiver.duplicates, 1)
  t.equal(describeUpdate(updates[0]!), 'order.updated ord_1 v2 completed')
  t.match(describeUpdate(updates[1]!), /older than one already seen/)
})
