import t from 'tap'
import { createDatabase } from '@herald/db'
import { TEST_DATABASE_URL, useTestSchema } from '@herald/service-kit/testing'
import { CommittedHorizon } from '../../src/deliveries/horizon.js'

const insertEvent = (id: string) => `insert into outbox (id, entity_type, entity_id, version, payload) values (${id}, 'order', 'o${id}', 1, '{}')`

t.test('the horizon never passes an id whose transaction is still running', async (t) => {
  const schema = await useTestSchema(t, 'horizon')
  const database = createDatabase({ url: TEST_DATABASE_URL, schema, max: 3 })
  t.teardown(() => database.close())
  const horizon = new CommittedHorizon(database.pool)
  t.equal(await horizon.settledId(), '0', 'empty outbox')

  // A writer takes id 1 and has not committed; another commits id 2.
  const slow = await database.pool.connect()
  await slow.query('begin')
  await slow.query('select pg_current_xact_id()')
  await slow.query(insertEvent('1'))
  await database.pool.query(insertEvent('2'))
  for (let i = 0; i < 5; i++) t.equal(await horizon.settledId(), '0', 'id 2 is visible, but id 1 may still come')

  await slow.query('commit')
  slow.release()
  // The candidate taken while id 1 was running settles once it ended; a later read sees both.
  let settled = '0'
  for (let i = 0; i < 50 && settled !== '2'; i++) settled = await horizon.settledId()
  t.equal(settled, '2')
  const { rows } = await database.pool.query('select id::text from outbox where id <= $1 order by id', [settled])
  t.same(rows.map((r) => r.id), ['1', '2'], 'nothing skipped')
})
