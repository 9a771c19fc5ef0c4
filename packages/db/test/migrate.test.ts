import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createDatabase, dropSchema, orders, pingDatabase, runMigrations, startEmbeddedPostgres } from '../src/index.js'

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

t.test('migrations apply to a fresh schema twice without error, and the tables work', async (t) => {
  const schemaName = `t_db_${randomBytes(4).toString('hex')}`
  t.teardown(() => dropSchema(url, schemaName))
  await runMigrations(url, schemaName)
  await runMigrations(url, schemaName)
  const handle = createDatabase({ url, schema: schemaName })
  t.teardown(() => handle.close())
  t.ok(await pingDatabase(handle.pool))
  await handle.db.insert(orders).values({
    id: 'ord_1',
    orderNumber: 'INV-1',
    totalAmount: '10.00',
    currency: 'KES',
    ticketCount: 1,
    customerEmail: 'a@example.com',
    customerFirstName: 'A',
    customerLastName: 'B',
    provider: 'mpesa'
  })
  const rows = await handle.db.select().from(orders)
  t.equal(rows.length, 1)
  t.equal(rows[0]!.paymentStatus, 'pending')
  const { rows: [where] } = await handle.pool.query('select current_schema() as s')
  t.equal(where.s, schemaName, 'queries run in the test schema')
})

t.test('the embedded Postgres serves the pg driver and takes the migrations', async (t) => {
  const embedded = await startEmbeddedPostgres()
  t.teardown(() => embedded.stop())
  await runMigrations(embedded.url)
  const handle = createDatabase({ url: embedded.url, max: 4 })
  t.teardown(() => handle.close())
  const results = await Promise.all([1, 2, 3, 4].map(() => handle.pool.query('select count(*)::int as n from orders')))
  t.same(results.map((r) => r.rows[0].n), [0, 0, 0, 0], 'several connections at once')
})
