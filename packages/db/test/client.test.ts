import t from 'tap'
import { sql } from 'drizzle-orm'
import { createDatabase, pingDatabase } from '../src/index.js'

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

t.test('a query past the client-side timeout rejects, and its wedged connection is discarded', async (t) => {
  const handle = createDatabase({ url, max: 1, statementTimeoutMillis: 30_000, queryTimeoutMillis: 300, applicationName: 'herald-timeout-test' })
  t.teardown(() => handle.close())
  const { rows: [first] } = await handle.pool.query('select pg_backend_pid() as pid')
  await t.rejects(handle.pool.query('select pg_sleep(5)'), { message: 'Query read timeout' })
  // The pool has one slot: a kept wedged client would make this wait for the sleep to end.
  const started = Date.now()
  const { rows: [second] } = await handle.pool.query('select pg_backend_pid() as pid')
  t.not(second.pid, first.pid, 'the next query runs on a new connection')
  t.ok(Date.now() - started < 4000, 'without waiting for the timed-out query')
})

t.test('a connection killed inside a transaction rejects the query and does not crash the process', async (t) => {
  const handle = createDatabase({ url, max: 2, applicationName: 'herald-kill-test' })
  t.teardown(() => handle.close())
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown) => { uncaught.push(err) }
  process.on('uncaughtException', onUncaught)
  t.teardown(() => { process.off('uncaughtException', onUncaught) })
  const killer = createDatabase({ url, max: 1 })
  t.teardown(() => killer.close())

  const inside = handle.db.transaction(async (tx) => {
    const { rows: [me] } = await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)
    await killer.pool.query('select pg_terminate_backend($1)', [me!.pid])
    await tx.execute(sql`select pg_sleep(0.2)`)
  })
  await t.rejects(inside, 'the query on the killed connection rejects')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(uncaught, [], 'no uncaught error')
  t.ok(await pingDatabase(handle.pool), 'the pool serves again')
})

t.test('pingDatabase answers false quickly for an unreachable Postgres', async (t) => {
  const handle = createDatabase({ url: 'postgres://postgres@127.0.0.1:1/test', connectionTimeoutMillis: 500 })
  t.teardown(() => handle.close())
  t.equal(await pingDatabase(handle.pool), false)
})
