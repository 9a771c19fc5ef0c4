import t from 'tap'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import { createDatabase, dropSchema, migrationsFolder, orders, pingDatabase, runMigrations } from '../src/index.js'

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

t.test('migration 0005 moves the outbox rows unpublished at the time into outbox_pending and drops published_at', async (t) => {
  const schemaName = `t_db_${randomBytes(4).toString('hex')}`
  t.teardown(() => dropSchema(url, schemaName))
  // The committed migrations up to 0004: a deployment of the release before.
  const before = mkdtempSync(join(tmpdir(), 'herald-migrations-'))
  t.teardown(() => rmSync(before, { recursive: true, force: true }))
  cpSync(migrationsFolder, before, { recursive: true })
  const journalPath = join(before, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ idx: number }> }
  journal.entries = journal.entries.filter((entry) => entry.idx <= 4)
  writeFileSync(journalPath, JSON.stringify(journal))
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  await client.query(`create schema "${schemaName}"`)
  await client.query(`set search_path to "${schemaName}"`)
  await migrate(drizzle(client), { migrationsFolder: before, migrationsSchema: schemaName })
  await client.query(`insert into outbox (entity_type, entity_id, version, payload, published_at) values
    ('order', 'ord_1', 1, '{}', now()), ('order', 'ord_1', 2, '{}', null), ('registration', 'reg_1', 1, '{}', now()),
    ('registration', 'reg_1', 2, '{}', null), ('registration', 'reg_1', 3, '{}', null)`)

  await runMigrations(url, schemaName)
  const { rows: pending } = await client.query('select p.entity_type, p.entity_id, o.version from outbox_pending p join outbox o on o.id = p.id order by p.id')
  t.same(pending, [
    { entity_type: 'order', entity_id: 'ord_1', version: 2 },
    { entity_type: 'registration', entity_id: 'reg_1', version: 2 },
    { entity_type: 'registration', entity_id: 'reg_1', version: 3 }
  ], 'every unpublished row is pending, nothing else')
  const { rows: [outbox] } = await client.query('select count(*)::int as n from outbox')
  t.equal(outbox.n, 5, 'the outbox keeps every row')
  const { rows: columns } = await client.query("select column_name from information_schema.columns where table_schema = $1 and table_name = 'outbox' and column_name = 'published_at'", [schemaName])
  t.same(columns, [], 'published_at is gone')
})
