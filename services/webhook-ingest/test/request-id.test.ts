import t from 'tap'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { buildIngest, fixture } from './helper.js'

const MPESA = `/webhooks/mpesa/${TEST_SECRETS.MPESA_CALLBACK_TOKEN}`
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('every answer carries x-request-id: the caller\'s, else a generated one', async (t) => {
  const { app } = await buildIngest(t)
  const given = await app.inject({ method: 'POST', url: MPESA, payload: fixture('daraja-stk-success'), headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc.123' } })
  t.equal(given.headers['x-request-id'], 'req-abc.123', 'the caller\'s id is echoed')
  const generated = await app.inject({ method: 'GET', url: '/healthz' })
  t.match(generated.headers['x-request-id'], UUID, 'a generated one otherwise')
  const refused = await app.inject({ method: 'POST', url: '/webhooks/payhero/wrong', payload: '{}', headers: { 'content-type': 'application/json', 'x-request-id': 'req-refused' } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['x-request-id'], 'req-refused', 'errors carry it too')
  const noRoute = await app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'req-404' } })
  t.equal(noRoute.headers['x-request-id'], 'req-404', 'and unknown routes')
  const hostile = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\u0007<script>' } })
  t.match(hostile.headers['x-request-id'], UUID, 'an id that is not a plain token is replaced, not logged or echoed')
})
