// The group commit with real Postgres and Redis: requests held until they all sit in one batch (one
// batch in flight, occupied by a gate the test opens), then what each request answers and what is kept.
import t from 'tap'
import { once } from 'node:events'
import { createConnection, createServer, type Socket } from 'node:net'
import pg from 'pg'
import { TEST_DATABASE_URL } from '@herald/service-kit/testing'
import type { OrderEvent } from '@herald/contracts'
import {
  buildIngest, darajaCallback, eventually, fixtureJson, orderBody, postCallback, putOrder, signedHeaders, streamEntries, testRedis, type IngestTestApp
} from './helper.js'

type App = IngestTestApp['app']

/**
 * Runs `send` while the only batch slot is held, waits until `expected` writes queue behind it, then
 * lets them go: they commit as one batch. Answers what `send` answered.
 */
async function inOneBatch<T> (app: App, expected: number, send: () => Array<Promise<T>>): Promise<T[]> {
  let open!: () => void
  const gate = app.unitOfWork.submit(() => new Promise<void>((resolve) => { open = resolve }))
  await eventually(() => open !== undefined, 10_000, 'the gate batch to begin')
  const answers = Promise.all(send())
  await eventually(() => app.unitOfWork.queued === expected, 10_000, `${expected} writes to queue`)
  open()
  await gate
  return answers
}

const ONE_BATCH = { INGEST_BATCHES_IN_FLIGHT: '1' }

async function batchSizes (app: App): Promise<string> {
  return (await app.inject({ method: 'GET', url: '/metrics' })).body
}

t.test('mixed callbacks with duplicates in one batch: each answered as alone, one transaction', async (t) => {
  const { app, prefix } = await buildIngest(t, ONE_BATCH)
  const redis = testRedis(t)
  for (const id of ['a', 'b', 'c']) t.equal((await putOrder(app, `ord_${id}`, orderBody({ references: { checkoutRequestId: `ws_CO_${id}` } }))).statusCode, 200)
  // Already recorded before the batch: its repeat in the batch is a duplicate.
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_c', 1032))).statusCode, 200)

  const answers = await inOneBatch(app, 5, () => [
    postCallback(app, 'mpesa', darajaCallback('ws_CO_a', 0)),
    postCallback(app, 'mpesa', darajaCallback('ws_CO_a', 0)),
    postCallback(app, 'mpesa', darajaCallback('ws_CO_b', 0, 99)),
    postCallback(app, 'mpesa', darajaCallback('ws_CO_c', 1032)),
    postCallback(app, 'mpesa', darajaCallback('ws_CO_unknown', 0))
  ])
  t.same(answers.map((a) => a.statusCode), [200, 200, 200, 200, 200])
  const { rows: callbacks } = await app.pgPool.query('select checkout_request_id as ref, disposition, order_id from callbacks order by id')
  t.same(callbacks, [
    { ref: 'ws_CO_c', disposition: 'applied', order_id: 'ord_c' },
    { ref: 'ws_CO_a', disposition: 'applied', order_id: 'ord_a' },
    { ref: 'ws_CO_b', disposition: 'review', order_id: 'ord_b' },
    { ref: 'ws_CO_unknown', disposition: 'parked', order_id: null }
  ], 'one record per distinct callback; the repeats recorded nothing')
  const { rows: orders } = await app.pgPool.query('select id, payment_status, needs_review, version from orders order by id')
  t.same(orders, [
    { id: 'ord_a', payment_status: 'completed', needs_review: false, version: 2 },
    { id: 'ord_b', payment_status: 'pending', needs_review: true, version: 2 },
    { id: 'ord_c', payment_status: 'cancelled', needs_review: false, version: 2 }
  ])
  t.same((await app.pgPool.query('select kind from review_items')).rows, [{ kind: 'amount_mismatch' }])
  t.equal((await app.pgPool.query('select 1 from parked_callbacks')).rows.length, 1)
  const metrics = await batchSizes(app)
  const bucket = (le: number) => Number(new RegExp(`herald_ingest_batch_size_bucket\\{le="${le}"[^}]*\\} (\\d+)`).exec(metrics)![1])
  const [fourOrLess, eightOrLess] = [bucket(4), bucket(8)]
  t.equal(Number(eightOrLess) - Number(fourOrLess), 1, 'the five callbacks committed as one batch')
  t.match(metrics, /herald_ingest_commits_total\{[^}]*\} \d+/)
  t.match(metrics, /herald_ingest_batch_wait_seconds_count\{[^}]*\} \d+/)
  await eventually(async () => (await streamEntries(redis, prefix)).length === 6, 20_000, 'six stream entries')
})

t.test('two callbacks for one order in one batch apply one after the other, each its own version', async (t) => {
  const { app, prefix } = await buildIngest(t, ONE_BATCH)
  const redis = testRedis(t)
  t.equal((await putOrder(app, 'ord_two', orderBody({ references: { checkoutRequestId: 'ws_CO_two' } }))).statusCode, 200)
  const answers = await inOneBatch(app, 2, () => [
    postCallback(app, 'mpesa', darajaCallback('ws_CO_two', 4242)),
    postCallback(app, 'mpesa', darajaCallback('ws_CO_two', 0))
  ])
  t.same(answers.map((a) => a.statusCode), [200, 200])
  const { rows: [order] } = await app.pgPool.query('select payment_status, needs_review, version from orders')
  t.same(order, { payment_status: 'completed', needs_review: true, version: 3 }, 'unknown, then completed; review stays')
  const { rows: outbox } = await app.pgPool.query("select version, payload->>'eventId' as event, id::text from outbox order by id")
  t.same(outbox.map((r) => r.version), [1, 2, 3], 'versions in id order')
  t.ok(outbox.every((r) => r.event === r.id), 'each payload carries its own outbox id')
  await eventually(async () => (await streamEntries(redis, prefix)).length === 3, 20_000, 'three stream entries')
  const entries = await streamEntries(redis, prefix)
  t.same(entries.map((e) => (JSON.parse(e.json) as OrderEvent).order.paymentStatus), ['pending', 'processing', 'completed'])
})

t.test('a unique violation inside a batch: only its own request gets 409, batch-mates commit', async (t) => {
  const { app } = await buildIngest(t, ONE_BATCH)
  const register = (id: string, name: string) => putOrder(app, id, orderBody({ references: { checkoutRequestId: `ws_CO_${name}` } }))
  const answers = await inOneBatch(app, 4, () => [register('ord_1', 'one'), register('ord_2', 'one'), register('ord_3', 'three'),
    postCallback(app, 'mpesa', darajaCallback('ws_CO_three', 0))])
  t.same(answers.map((a) => a.statusCode), [200, 409, 200, 200])
  t.match(answers[1]!.json(), { error: /already belongs to another order/ })
  t.same((await app.pgPool.query('select id from orders order by id')).rows.map((r) => r.id), ['ord_1', 'ord_3'])
  t.same((await app.pgPool.query('select entity_id from webhook_receipts order by entity_id')).rows.map((r) => r.entity_id), ['ord_1', 'ord_3'],
    'the refused request kept no webhook-id: its retry is judged again')

  const events = (n: number, type: 'stage' | 'final') => type === 'final'
    ? { type: 'final', status: n === 1 ? 'APPROVED' : 'REJECTED', message: 'done' }
    : { type: 'stage', stage: 'duplicate_check', status: 'started' }
  const postEvent = (id: string, body: unknown) => {
    const payload = JSON.stringify(body)
    return app.inject({ method: 'POST', url: `/v1/registrations/${id}/events`, payload, headers: signedHeaders(payload) })
  }
  t.equal((await postEvent('reg_1', events(1, 'final'))).statusCode, 200)
  const more = await inOneBatch(app, 3, () => [postEvent('reg_1', events(2, 'final')), postEvent('reg_2', events(1, 'stage')), postEvent('reg_1', events(1, 'final'))])
  t.same(more.map((a) => a.statusCode), [409, 200, 200], 'a verdict after the final one is refused; its batch-mates are not')
  t.equal(more[2]!.json().duplicate, true)
  t.same((await app.pgPool.query('select id, version from registrations order by id')).rows, [{ id: 'reg_1', version: 1 }, { id: 'reg_2', version: 1 }])
})

t.test('order registrations and updates in one batch: in arrival order, parked callbacks applied, a refusal alone', async (t) => {
  const { app, prefix } = await buildIngest(t, ONE_BATCH)
  const redis = testRedis(t)
  // Before the batch: a callback parked for an order not yet registered, and an order already paid.
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_early', 0))).statusCode, 200)
  t.equal((await putOrder(app, 'ord_paid', orderBody({ references: { checkoutRequestId: 'ws_CO_paid' } }))).statusCode, 200)
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_paid', 0))).statusCode, 200)

  const answers = await inOneBatch(app, 6, () => [
    putOrder(app, 'ord_new', orderBody({ references: { checkoutRequestId: 'ws_CO_new' } }), { id: 'msg_new_1' }),
    putOrder(app, 'ord_new', orderBody({ totalAmount: 12, references: {} }), { id: 'msg_new_2' }),
    putOrder(app, 'ord_early', orderBody({ references: { checkoutRequestId: 'ws_CO_early' } }), { id: 'msg_early' }),
    putOrder(app, 'ord_paid', orderBody({ totalAmount: 99, references: {} }), { id: 'msg_paid' }),
    putOrder(app, 'ord_new', orderBody({ references: { checkoutRequestId: 'ws_CO_new' } }), { id: 'msg_new_1' }),
    putOrder(app, 'ord_other', orderBody(), { id: 'msg_new_2' })
  ])
  t.same(answers.map((a) => a.statusCode), [200, 200, 200, 409, 200, 401])
  t.match(answers[0]!.json(), { order: { version: 1, totalAmount: 10 } })
  t.match(answers[1]!.json(), { order: { version: 2, totalAmount: 12, payment: { checkoutRequestId: 'ws_CO_new' } } },
    'the update applies after the registration of the same batch and keeps its reference')
  t.match(answers[2]!.json(), { order: { version: 2, paymentStatus: 'completed' } }, 'the parked callback applied at registration')
  t.match(answers[3]!.json(), { error: /can no longer change/ })
  t.same(answers[4]!.json().order, answers[0]!.json().order, 'a repeated webhook-id answers what its first request answered')

  const { rows: orders } = await app.pgPool.query('select id, total_amount::float as amount, payment_status, version from orders order by id')
  t.same(orders, [
    { id: 'ord_early', amount: 10, payment_status: 'completed', version: 2 },
    { id: 'ord_new', amount: 12, payment_status: 'pending', version: 2 },
    { id: 'ord_paid', amount: 10, payment_status: 'completed', version: 2 }
  ])
  t.same((await app.pgPool.query("select disposition, order_id from callbacks where checkout_request_id = 'ws_CO_early'")).rows, [{ disposition: 'applied', order_id: 'ord_early' }])
  t.same((await app.pgPool.query('select order_id from parked_callbacks where applied_at is not null')).rows, [{ order_id: 'ord_early' }])
  t.notOk((await app.pgPool.query("select 1 from webhook_receipts where webhook_id = 'msg_paid'")).rows.length, 'the refused request kept no webhook-id')
  t.equal((await putOrder(app, 'ord_paid', orderBody({ totalAmount: 10, references: {} }), { id: 'msg_paid' })).statusCode, 200,
    'its retry is judged again')
  const { rows: outbox } = await app.pgPool.query("select entity_id, version from outbox where entity_id in ('ord_new', 'ord_early') order by id")
  t.same(outbox, [{ entity_id: 'ord_new', version: 1 }, { entity_id: 'ord_new', version: 2 }, { entity_id: 'ord_early', version: 1 }, { entity_id: 'ord_early', version: 2 }])
  await eventually(async () => (await streamEntries(redis, prefix)).length === 6, 20_000, 'six stream entries')
})

t.test('parked callbacks in one batch: each order takes its own in arrival order, whichever reference matched', async (t) => {
  const { app } = await buildIngest(t, ONE_BATCH)
  // Parked before the batch: a cancellation matched by our reference, then a payment by CheckoutRequestID.
  const cancelled = { ...fixtureJson('payhero-africa-success'), success: false, status: 'failed', message: 'Request cancelled by the user', external_reference: 'ext_multi', reference: 'UFD_multi', amount: 10 }
  t.equal((await postCallback(app, 'payhero', JSON.stringify(cancelled))).statusCode, 200)
  t.equal((await postCallback(app, 'mpesa', darajaCallback('ws_CO_multi', 0))).statusCode, 200)
  // And one callback whose references name two orders of the batch: the first of them takes it.
  const shared = fixtureJson('payhero-legacy-success')
  shared.response.CheckoutRequestID = 'ws_CO_first'
  shared.response.ExternalReference = 'ext_second'
  t.equal((await postCallback(app, 'payhero', JSON.stringify(shared))).statusCode, 200)
  t.equal((await app.pgPool.query('select 1 from parked_callbacks')).rows.length, 3, 'three callbacks parked')

  const answers = await inOneBatch(app, 3, () => [
    putOrder(app, 'ord_multi', orderBody({ references: { checkoutRequestId: 'ws_CO_multi', externalReference: 'ext_multi' } })),
    putOrder(app, 'ord_first', orderBody({ references: { checkoutRequestId: 'ws_CO_first' } })),
    putOrder(app, 'ord_second', orderBody({ references: { externalReference: 'ext_second' } }))
  ])
  t.same(answers.map((a) => a.statusCode), [200, 200, 200])
  t.match(answers[0]!.json(), { order: { paymentStatus: 'cancelled', needsReview: true } },
    'the cancellation applied first, the later payment went to review')
  t.match(answers[1]!.json(), { order: { paymentStatus: 'completed' } })
  t.match(answers[2]!.json(), { order: { paymentStatus: 'pending', version: 1 } }, 'a callback already taken is not applied twice')
  const { rows } = await app.pgPool.query('select provider, disposition, order_id from callbacks order by id')
  t.same(rows, [
    { provider: 'payhero', disposition: 'applied', order_id: 'ord_multi' },
    { provider: 'mpesa', disposition: 'review', order_id: 'ord_multi' },
    { provider: 'payhero', disposition: 'applied', order_id: 'ord_first' }
  ])
  t.same((await app.pgPool.query('select order_id from parked_callbacks where applied_at is not null order by id')).rows,
    [{ order_id: 'ord_multi' }, { order_id: 'ord_multi' }, { order_id: 'ord_first' }])
})

/** A TCP proxy to Postgres the test can cut: every connection dropped, new ones refused. */
async function postgresProxy (t: { teardown (fn: () => unknown): void }) {
  const target = new URL(TEST_DATABASE_URL)
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {}).on('close', () => { client.destroy(); upstream.destroy(); sockets.delete(socket) })
    }
    client.pipe(upstream).pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = new URL(TEST_DATABASE_URL)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as { port: number }).port)
  const cut = () => {
    server.close()
    for (const socket of sockets) socket.destroy()
  }
  t.teardown(cut)
  return { url: url.toString(), cut }
}

t.test('Postgres gone mid-batch: every request of the batch answers 503 and nothing is written', async (t) => {
  const proxy = await postgresProxy(t)
  const { app, schema } = await buildIngest(t, { ...ONE_BATCH, DATABASE_URL: proxy.url, PG_POOL_MAX: '3' })
  const direct = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, options: `-c search_path=${schema}` })
  t.teardown(() => direct.end())
  for (const id of ['a', 'b']) t.equal((await putOrder(app, `ord_${id}`, orderBody({ references: { checkoutRequestId: `ws_CO_${id}` } }))).statusCode, 200)
  const before = (await direct.query('select (select count(*) from callbacks) + (select count(*) from outbox) + (select count(*) from webhook_receipts) as n')).rows[0].n

  // The last write of the batch cuts the connection after the callbacks' statements ran, before the commit.
  const answers = await inOneBatch(app, 4, () => [
    postCallback(app, 'mpesa', darajaCallback('ws_CO_a', 0)),
    postCallback(app, 'mpesa', darajaCallback('ws_CO_b', 0)),
    putOrder(app, 'ord_c', orderBody({ references: { checkoutRequestId: 'ws_CO_c' } })),
    app.unitOfWork.submit(async () => { proxy.cut() }).then(() => ({ statusCode: 200 }), (err: { statusCode?: number }) => ({ statusCode: err.statusCode }))
  ])
  t.same(answers.map((a) => a.statusCode), [503, 503, 503, 503])
  const after = (await direct.query('select (select count(*) from callbacks) + (select count(*) from outbox) + (select count(*) from webhook_receipts) as n')).rows[0].n
  t.equal(after, before, 'nothing of the batch was kept')
  t.same((await direct.query('select id, version from orders order by id')).rows, [{ id: 'ord_a', version: 1 }, { id: 'ord_b', version: 1 }])
})

t.test('a batch runs its statements with generic plans found by index, and only inside its transaction', async (t) => {
  const { app } = await buildIngest(t, ONE_BATCH)
  const settings = "select current_setting('plan_cache_mode') as plans, current_setting('enable_seqscan') as seqscan, " +
    "current_setting('enable_hashjoin') as hashjoin, current_setting('enable_mergejoin') as mergejoin"
  const inBatch = await app.unitOfWork.submit(async (tx) => (await tx.query(settings)).rows[0])
  t.same(inBatch, { plans: 'force_generic_plan', seqscan: 'off', hashjoin: 'off', mergejoin: 'off' })
  // A generic plan made while the table is empty, as on a young deployment, still finds orders by index.
  const plan = await app.unitOfWork.submit(async (tx) => {
    await tx.query({ name: 'herald_test_plan', text: 'select id from orders where id = any($1::text[])', values: [['ord_x']] })
    return (await tx.query("explain execute herald_test_plan('{ord_x}')")).rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')
  })
  t.match(plan, /Index/, 'an index lookup, not a sequential scan')
  t.notMatch(plan, /Seq Scan/)
  // The pool's other transactions keep the server's defaults.
  t.equal((await app.pgPool.query("select current_setting('plan_cache_mode') as plans")).rows[0].plans, 'auto')
})
