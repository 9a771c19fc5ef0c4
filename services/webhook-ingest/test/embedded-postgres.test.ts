import t from 'tap'
import { runMigrations, startEmbeddedPostgres } from '@herald/db'
import { buildIngest, eventually, fixture, orderBody, postCallback, putOrder } from './helper.js'

// PGlite multiplexes every connection onto one session: concurrent transactions from a larger pool can
// hang there, so the embedded mode needs PG_POOL_MAX=1 (the pool then serializes transactions).
t.test('the ingest runs on the embedded Postgres that `pnpm start` uses, with a pool of one', async (t) => {
  const embedded = await startEmbeddedPostgres()
  t.teardown(() => embedded.stop())
  await runMigrations(embedded.url)
  const { app } = await buildIngest(t, { DATABASE_URL: embedded.url, PG_POOL_MAX: '1' }, { schema: 'public' })
  const put = await putOrder(app, 'ord_embedded', orderBody({ totalAmount: 1, references: { checkoutRequestId: 'ws_CO_17112022155730304796440427' } }))
  t.equal(put.statusCode, 200)
  const answers = await Promise.all([1, 2, 3].map(() => postCallback(app, 'mpesa', fixture('daraja-stk-success'))))
  t.same(answers.map((a) => a.statusCode), [200, 200, 200])
  const { rows } = await app.pgPool.query('select payment_status, version from orders')
  t.same(rows, [{ payment_status: 'completed', version: 2 }])
  await eventually(async () => (await app.pgPool.query('select 1 from outbox where published_at is null')).rows.length === 0, 30_000, 'outbox published')
  t.pass('the outbox was published')
})
