import t from 'tap'
import { StreamLayout, readSnapshot } from '@herald/streams'
import { verifySubscribeToken } from '@herald/contracts/subscribe-token'
import type { RegistrationEvent, RegistrationEventBody } from '@herald/contracts'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { buildIngest, eventually, signedHeaders, streamEntries, testRedis } from './helper.js'

type App = Awaited<ReturnType<typeof buildIngest>>['app']

async function postEvent (app: App, registrationId: string, body: RegistrationEventBody, id?: string) {
  const payload = JSON.stringify(body)
  return app.inject({ method: 'POST', url: `/v1/registrations/${registrationId}/events`, payload, headers: signedHeaders(payload, { id }) })
}

t.test('stage events and the final verdict build the registration, one stream entry each, in order', async (t) => {
  const { app, prefix } = await buildIngest(t)
  const redis = testRedis(t)
  const layout = new StreamLayout({ prefix, shards: 1 })
  const started = await postEvent(app, '42', { type: 'stage', stage: 'duplicate_check', status: 'started', message: 'Checking for duplicates' })
  t.equal(started.statusCode, 200)
  t.match(started.json(), { success: true, duplicate: false, registration: { registrationId: '42', status: 'PROCESSING', stage: 'duplicate_check', version: 1 } })
  const claims = verifySubscribeToken([TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET], started.json().subscribeToken)
  t.match(claims, { scope: 'registration', id: '42' }, 'the subscribe token opens this registration')

  await postEvent(app, '42', { type: 'stage', stage: 'duplicate_check', status: 'completed', details: { matches: 0 } })
  const final = await postEvent(app, '42', { type: 'final', status: 'APPROVED', message: 'Registration approved', details: { account: 'ACC-1' } })
  t.match(final.json().registration, { status: 'APPROVED', stage: 'final', message: 'Registration approved', details: { account: 'ACC-1' }, version: 3 })
  t.equal(final.json().registration.processLog.length, 2, 'the process log kept both stage events')

  await eventually(async () => (await readSnapshot(redis, layout, 'registration', '42'))?.version === 3)
  const entries = await streamEntries(redis, prefix)
  t.same(entries.map((e) => e.version), [1, 2, 3])
  const events = entries.map((e) => JSON.parse(e.json) as RegistrationEvent)
  t.same(events.map((e) => [e.update.stage, e.update.status]), [['duplicate_check', 'started'], ['duplicate_check', 'completed'], ['final', 'APPROVED']])
  const { rows } = await app.pgPool.query('select version, kind, status from registration_events order by version')
  t.same(rows, [{ version: 1, kind: 'stage', status: 'started' }, { version: 2, kind: 'stage', status: 'completed' }, { version: 3, kind: 'final', status: 'APPROVED' }])
})

t.test('a replayed webhook-id answers the stored result and changes nothing; a final verdict is terminal', async (t) => {
  const { app, prefix } = await buildIngest(t)
  const redis = testRedis(t)
  const body: RegistrationEventBody = { type: 'stage', stage: 'core_banking_lookup', status: 'started' }
  const first = await postEvent(app, 'r-7', body, 'msg_fixed')
  const replays = await Promise.all([1, 2, 3].map(() => postEvent(app, 'r-7', body, 'msg_fixed')))
  t.same(replays.map((r) => r.statusCode), [200, 200, 200])
  for (const replay of replays) {
    t.equal(replay.json().duplicate, true)
    t.same(replay.json().registration, first.json().registration)
  }
  await postEvent(app, 'r-7', { type: 'final', status: 'REJECTED', message: 'No account' })
  const again = await postEvent(app, 'r-7', { type: 'final', status: 'REJECTED', message: 'No account' })
  t.equal(again.statusCode, 200)
  t.equal(again.json().duplicate, true, 'the same verdict again is a duplicate')
  const contradiction = await postEvent(app, 'r-7', { type: 'final', status: 'APPROVED', message: 'Approved after all' })
  t.equal(contradiction.statusCode, 409)
  t.match(contradiction.json(), { success: false, code: 'HERALD_ERR_CONFLICT', error: /REJECTED/ })
  const stage = await postEvent(app, 'r-7', body)
  t.equal(stage.statusCode, 409, 'no stage after the verdict')
  const { rows } = await app.pgPool.query('select status, version from registrations')
  t.same(rows, [{ status: 'REJECTED', version: 2 }])
  await eventually(async () => (await streamEntries(redis, prefix)).length === 2)
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(metrics.body, /herald_ingest_duplicates_total\{[^}]*source="internal"[^}]*\} 4/)
})

t.test('every configured secret verifies (rotation)', async (t) => {
  const oldSecret = `whsec_${Buffer.from('herald-old-secret-0123456789abcd').toString('base64')}`
  const { app } = await buildIngest(t, { INTERNAL_WEBHOOK_SECRETS: `${TEST_SECRETS.INTERNAL_WEBHOOK_SECRETS},${oldSecret}` })
  const payload = JSON.stringify({ type: 'stage', stage: 'status_update', status: 'started' })
  const withOld = await app.inject({ method: 'POST', url: '/v1/registrations/r-rot/events', payload, headers: signedHeaders(payload, { secret: oldSecret }) })
  t.equal(withOld.statusCode, 200)
  const withNew = await app.inject({ method: 'POST', url: '/v1/registrations/r-rot/events', payload, headers: signedHeaders(payload) })
  t.equal(withNew.statusCode, 200)
})

t.test('with a SUBSCRIBE_TOKEN_SECRET list the ingest signs with the first secret only (rotation)', async (t) => {
  const { app } = await buildIngest(t, { SUBSCRIBE_TOKEN_SECRET: `next-subscribe-secret-000001, ${TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET}` })
  const started = await postEvent(app, '77', { type: 'stage', stage: 'duplicate_check', status: 'started' })
  const token = started.json().subscribeToken
  t.match(verifySubscribeToken(['next-subscribe-secret-000001'], token), { scope: 'registration', id: '77' }, 'signed with the first secret')
  t.equal(verifySubscribeToken([TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET], token), null, 'not with the second')
})
