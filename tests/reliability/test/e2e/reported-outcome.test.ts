// A back-end that verified a payment itself reports it: a held long-poll hears of it through the real
// ingest and gateway, and a report contradicting a final state is refused.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildGatewayApp, buildIngestApp } from '../support/apps.js'
import { until } from '../support/processes.js'
import { useStorage } from '../support/storage.js'
import { MPESA_PATH, call, darajaCallback, orderBody, signedCall } from '../support/traffic.js'

const heldOn = (app: FastifyInstance): number => (app as unknown as { orderWaiters: { size: number } }).orderWaiters.size

async function listening (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

t.test('a reported outcome answers a held long-poll, and is refused when it contradicts a final state', async (t) => {
  const storage = await useStorage(t, 'e2e_outcome')
  const ingest = await listening(await buildIngestApp(t, storage))
  const gatewayApp = await buildGatewayApp(t, storage)
  const gateway = await listening(gatewayApp)

  const registered = await signedCall(ingest, 'PUT', '/v1/orders/e2e-reported', orderBody('ws_CO_e2e_reported'))
  t.equal(registered.status, 200)
  const token = registered.body.subscribeToken as string
  const held = call(`${gateway}/api/orders/e2e-reported/wait?since=1&timeout=60000`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 90_000 })
  await until(() => heldOn(gatewayApp) === 1, 'the long-poll to be held')

  // The callback never came; the back-end asked Daraja itself and reports what it learned.
  const reported = await signedCall(ingest, 'POST', '/v1/orders/e2e-reported/outcome', { outcome: 'completed', resultCode: 0, resultDesc: 'The service request is processed successfully.', receipt: 'QKH94M1Z99', amount: 1500 })
  t.equal(reported.status, 200)
  t.match(reported.body, { success: true, disposition: 'applied', order: { paymentStatus: 'completed', version: 2 } })
  t.match((await held).body, { orderId: 'e2e-reported', paymentStatus: 'completed', status: 'paid', timedOut: false, payment: { outcome: 'completed', receipt: 'QKH94M1Z99' } },
    'the waiting page hears of it')

  const contradicting = await signedCall(ingest, 'POST', '/v1/orders/e2e-reported/outcome', { outcome: 'cancelled', resultCode: 1032 })
  t.equal(contradicting.status, 409)
  t.match(contradicting.body, { success: false, code: 'HERALD_ERR_OUTCOME_CONFLICT', error: /already completed/, details: { reviewKind: 'final_state_conflict' } })
  // The late provider callback agreeing with the report changes nothing.
  t.equal((await call(`${ingest}${MPESA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(darajaCallback('ws_CO_e2e_reported', 0)) })).status, 200)
  // The flag is a new version of the order: the gateway learns it through the stream, a moment after the answer.
  const current = async () => (await call(`${gateway}/api/orders/e2e-reported`, { headers: { authorization: `Bearer ${token}` } })).body
  await until(async () => (await current()).needsReview === true, 'the review flag to reach the gateway')
  t.match(await current(), { paymentStatus: 'completed', status: 'paid', needsReview: true }, 'still completed, flagged for review')
})
