import t from 'tap'
import { runMigrations } from '@herald/db'
import { startEmbeddedPostgres } from '@herald/embedded-postgres'
import { buildIngest, eventually, fixture, fixtureJson, orderBody, postCallback, putOrder } from './helper.js'

// PGlite is one backend behind every connection: this runs the ingest as `pnpm start` does (a pool of
// four, the relay's own pool beside it), with concurrent requests, so statements of different
// connections interleave on it (named prepared statements, extended-protocol batches, transactions).
t.test('the ingest runs on the embedded Postgres that `pnpm start` uses, with concurrent requests', async (t) => {
  const embedded = await startEmbeddedPostgres()
  t.teardown(() => embedded.stop())
  await runMigrations(embedded.url)
  const { app } = await buildIngest(t, { DATABASE_URL: embedded.url, PG_POOL_MAX: '4' }, { schema: 'public' })
  const ids = Array.from({ length: 8 }, (_, i) => i)
  const checkout = (i: number) => `ws_CO_embedded_${i}`
  const puts = await Promise.all(ids.map((i) => putOrder(app, `ord_embedded_${i}`, orderBody({ totalAmount: 1, references: { checkoutRequestId: checkout(i) } }))))
  t.same(puts.map((p) => p.statusCode), ids.map(() => 200), 'every order registered')
  const callback = (i: number) => {
    const body = fixtureJson('daraja-stk-success')
    body.Body.stkCallback.CheckoutRequestID = checkout(i)
    return JSON.stringify(body)
  }
  // Every callback twice, all at once: a provider retrying.
  const answers = await Promise.all([...ids, ...ids].map((i) => postCallback(app, 'mpesa', callback(i))))
  t.same(answers.map((a) => a.statusCode), [...ids, ...ids].map(() => 200), 'every callback answered 200')
  const { rows } = await app.pgPool.query('select payment_status, version from orders order by id')
  t.same(rows, ids.map(() => ({ payment_status: 'completed', version: 2 })), 'each order paid once')
  const unknown = await postCallback(app, 'mpesa', fixture('daraja-stk-success'))
  t.equal(unknown.statusCode, 200, 'a callback for an order not registered yet is parked')
  await eventually(async () => (await app.pgPool.query('select 1 from outbox_pending')).rows.length === 0, 30_000, 'outbox published')
  t.pass('the outbox was published')
})
