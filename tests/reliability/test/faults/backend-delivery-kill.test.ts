// An ingest SIGKILLed while it delivers to a back-end endpoint: the next ingest takes the endpoint over
// once the dead one's lease runs out and sends everything, in order per order; what the dead one sent
// without recording it comes again with the same webhook-id, and the receiver drops it.
import t from 'tap'
import { BackendReceiver, type ReceivedUpdate } from '@herald/simulator'
import { startIngest, until, type ServiceProcess } from '../support/processes.js'
import { range, recordFigures, usePostgres, useStorage } from '../support/storage.js'
import { MPESA_PATH, call, darajaCallback, orderBody, signedCall } from '../support/traffic.js'

const SECRET = `whsec_${Buffer.from('herald-fault-backend-secret-0123').toString('base64')}`
const ORDERS = 30

t.test('an ingest killed with deliveries pending loses none of them', async (t) => {
  const storage = await useStorage(t, 'backend_kill')
  const pool = usePostgres(t, storage)
  const updates: ReceivedUpdate[] = []
  const receiver = new BackendReceiver({ secret: SECRET, onUpdate: (update) => updates.push(update) })
  const url = await receiver.listen(0)
  t.teardown(() => receiver.close())
  const env = { BACKEND_WEBHOOK_URLS: url, BACKEND_WEBHOOK_SECRET: SECRET, BACKEND_WEBHOOK_RETRY_MS: '0,200,200,200,200,200,200,200,200,200' }
  let ingest: ServiceProcess = await startIngest(t, storage, env)

  const send = async (n: number) => {
    const target = () => ingest.url
    const checkout = `ws_CO_bk_${n}`
    for (;;) {
      try {
        const put = await signedCall(target(), 'PUT', `/v1/orders/bk-${n}`, orderBody(checkout), { id: `msg_bk_${n}` })
        if (put.status !== 200) throw new Error(String(put.status))
        for (const code of [7001, 0]) {
          const answer = await call(`${target()}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(darajaCallback(checkout, code)) })
          if (answer.status !== 200) throw new Error(String(answer.status))
        }
        return
      } catch {
        // The ingest is being replaced: the same calls again are idempotent.
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
  }
  const firstHalf = Promise.all(range(ORDERS / 2).map(send))
  await until(() => updates.length >= 10, 'the first deliveries')
  await ingest.kill()
  const receivedAtKill = receiver.received
  ingest = await startIngest(t, storage, env)
  const killedAt = Date.now()
  await firstHalf
  await Promise.all(range(ORDERS / 2).map((i) => send(ORDERS / 2 + i)))
  await until(async () => {
    const { rows: [{ n }] } = await pool.query('select count(*)::int as n from outbox')
    return updates.length >= n
  }, 'every committed event at the receiver', 120_000)
  const { rows: [{ n: committed }] } = await pool.query('select count(*)::int as n from outbox')
  t.equal(updates.length, committed, 'every committed event arrived, once after dedupe by webhook-id')
  t.equal(new Set(updates.map((u) => u.webhookId)).size, updates.length)
  t.ok(updates.every((u) => u.fresh), 'each arrived after every older version of its order: in order per order')
  const finals = updates.filter((u) => u.body.type === 'order.updated' && u.body.data.paymentStatus === 'completed')
  t.equal(finals.length, ORDERS, 'every order\'s completion reached the back-end')
  recordFigures('backend-delivery-kill', {
    committed,
    receivedAtKill,
    repeatsDropped: receiver.duplicates,
    secondsFromKillToLastDelivery: Math.round((Date.now() - killedAt) / 100) / 10
  })
})
