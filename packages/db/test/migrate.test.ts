import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createDatabase, dropSchema, orders, pingDatabase, runMigrations } from '../src/index.js'

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
