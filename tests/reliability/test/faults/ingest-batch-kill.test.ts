// The ingest SIGKILLed while group commits are in flight: a burst of callbacks and order upserts, the
// process killed as the answers come in, then a new process and every request sent again (a provider
// retries what it got no 2xx for, and may repeat what it did). Nothing answered 2xx may be lost and
// nothing may be applied twice.
import t from 'tap'
import { startIngest, until, type ServiceProcess } from '../support/processes.js'
import { range, recordFigures, usePostgres, useStorage } from '../support/storage.js'
import { MPESA_PATH, call, darajaCallback, orderBody, signedCall, type Answer } from '../support/traffic.js'

const ORDERS = 300

t.test('an ingest killed mid-batch loses no 2xx and applies nothing twice', async (t) => {
  const storage = await useStorage(t, 'ingest_batch_kill')
  const pool = usePostgres(t, storage)
  const env = { INGEST_BATCH_MAX: '16', INGEST_BATCHES_IN_FLIGHT: '2' }
  let ingest: ServiceProcess = await startIngest(t, storage, env)
  const checkout = (n: number) => `ws_CO_kill_${n}`
  const registered = await Promise.all(range(ORDERS).map((n) => signedCall(ingest.url, 'PUT', `/v1/orders/ord_k${n}`, orderBody(checkout(n)), { id: `msg_reg_${n}` })))
  t.ok(registered.every((a) => a.status === 200), 'every order registered')

  // The burst: each order's success callback and an update of its sibling order, all at once.
  const callbackOf = (n: number) => darajaCallback(checkout(n), 0)
  const updateOf = (n: number) => orderBody(checkout(n), { ticketCount: 3 })
  const answers = new Map<string, Answer>()
  const burst = range(ORDERS).flatMap((n) => [
    call(`${ingest.url}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(callbackOf(n)) }).then((a) => { answers.set(`cb${n}`, a) }),
    signedCall(ingest.url, 'PUT', `/v1/orders/ord_k${n}`, updateOf(n), { id: `msg_upd_${n}` }).then((a) => { answers.set(`up${n}`, a) })
  ])
  await until(() => answers.size >= ORDERS / 4, 'a quarter of the burst answered', 120_000)
  await ingest.kill()
  await Promise.all(burst)
  const ok = [...answers].filter(([, a]) => a.status === 200).map(([key]) => key)
  const lost = [...answers].filter(([, a]) => a.status === 0).length
  t.ok(ok.length > 0 && lost > 0, `the kill came mid-burst (${ok.length} answered 2xx, ${lost} unanswered)`)

  // Everything answered 2xx is in Postgres, with its event; nothing half-written.
  const { rows: orders } = await pool.query<{ id: string, payment_status: string, ticket_count: number, version: number }>(
    'select id, payment_status, ticket_count, version from orders')
  const byId = new Map(orders.map((o) => [o.id, o]))
  const missing = ok.filter((key) => {
    const order = byId.get(`ord_k${key.slice(2)}`)!
    return key.startsWith('cb') ? order.payment_status !== 'completed' : order.ticket_count !== 3
  })
  t.same(missing, [], 'every callback and update answered 2xx is applied')
  const { rows: counts } = await pool.query<{ entity_id: string, n: number, max: number }>(
    "select entity_id, count(*)::int as n, max(version) as max from outbox where entity_type = 'order' group by entity_id")
  const uneven = counts.filter(({ entity_id: id, n, max }) => n !== max || max !== byId.get(id)!.version)
  t.same(uneven, [], 'every order has exactly one event per version it reached')

  // A new process; the providers send everything again (the unanswered are retries, the rest repeats).
  ingest = await startIngest(t, storage, env)
  const again = await Promise.all(range(ORDERS).flatMap((n) => [
    call(`${ingest.url}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(callbackOf(n)) }),
    signedCall(ingest.url, 'PUT', `/v1/orders/ord_k${n}`, updateOf(n), { id: `msg_upd_${n}` })
  ]))
  t.same([...new Set(again.map((a) => a.status))], [200], 'every repeat answered 2xx')
  const { rows: final } = await pool.query('select count(*) filter (where payment_status = \'completed\' and ticket_count = 3 and version = 3)::int as done from orders')
  t.equal(final[0].done, ORDERS, 'each order: registered, updated once, completed once (version 3)')
  const { rows: [{ callbacks }] } = await pool.query('select count(*)::int as callbacks from callbacks')
  t.equal(callbacks, ORDERS, 'one callback record per payment')
  const { rows: [{ events }] } = await pool.query("select count(*)::int as events from outbox where entity_type = 'order'")
  t.equal(events, ORDERS * 3, 'three events per order, none twice')
  await until(async () => (await pool.query('select count(*)::int as n from outbox_pending')).rows[0].n === 0, 'the outbox to drain')
  recordFigures('ingest-batch-kill', { orders: ORDERS, answered2xxBeforeKill: ok.length, unansweredAtKill: lost })
})
