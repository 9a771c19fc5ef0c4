import t from 'tap'
import pg from 'pg'
import { startEmbeddedPostgres } from '../src/index.js'

t.test('many connections running parameterised queries at once each get their own answer', async (t) => {
  const embedded = await startEmbeddedPostgres()
  t.teardown(() => embedded.stop())
  const pool = new pg.Pool({ connectionString: embedded.url, max: 8 })
  t.teardown(() => pool.end())
  const failures: string[] = []
  await Promise.all(Array.from({ length: 160 }, async (_, i) => {
    try {
      if (i % 2 === 0) {
        const { rows: [row] } = await pool.query('select $1::int + $2::int + $3::int as n', [i, 1, 2])
        if (row.n !== i + 3) failures.push(`query ${i}: got ${row.n}`)
      } else {
        // Large enough to reach the server in several TCP reads.
        const text = `q${i}:${'x'.repeat(200_000)}`
        const { rows: [row] } = await pool.query('select $1::text as s', [text])
        if (row.s !== text) failures.push(`query ${i}: got ${String(row.s).slice(0, 20)}`)
      }
    } catch (err) {
      failures.push(`query ${i}: ${(err as Error).message}`)
    }
  }))
  t.same(failures.slice(0, 5), [], `no query failed or got another's answer (${failures.length} did)`)
})

t.test('a transaction on one connection is not interleaved with another connection\'s statements', async (t) => {
  const embedded = await startEmbeddedPostgres()
  t.teardown(() => embedded.stop())
  const pool = new pg.Pool({ connectionString: embedded.url, max: 4 })
  t.teardown(() => pool.end())
  await pool.query('create table counter (id int primary key, n int not null)')
  await pool.query('insert into counter values (1, 0)')
  await Promise.all(Array.from({ length: 50 }, async () => {
    const client = await pool.connect()
    try {
      await client.query('begin')
      const { rows: [row] } = await client.query('select n from counter where id = $1', [1])
      await client.query('update counter set n = $1 where id = $2', [row.n + 1, 1])
      await client.query('commit')
    } finally {
      client.release()
    }
  }))
  const { rows: [row] } = await pool.query('select n from counter where id = 1')
  t.equal(row.n, 50, 'every read-modify-write ran alone')
})
