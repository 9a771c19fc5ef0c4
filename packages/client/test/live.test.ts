// The client against a real webhook-ingest and status-gateway (built servers, real Redis and Postgres).
import t from 'tap'
import type { OrderUpsertBody, RegistrationUpdate } from '@herald/contracts'
import { darajaCallback, planOrder, seededRandom } from '@herald/simulator'
import { followOrder, followRegistration, waitForOrder, HeraldClientError } from '../src/index.ts'
import { startHerald, until } from './herald.ts'

const herald = await startHerald(t)
const random = seededRandom(5)

function darajaOrder (orderId: string, outcome: 'completed' | 'cancelled') {
  const plan = planOrder(random, orderId, 1)
  const order: OrderUpsertBody = { ...plan.order, provider: 'mpesa', references: { checkoutRequestId: `ws_CO_${orderId}`, merchantRequestId: '1-2-3' } }
  const payment = outcome === 'completed'
    ? { outcome, resultCode: 0, resultDesc: 'The service request is processed successfully.', delaySeconds: 0 }
    : { outcome, resultCode: 1032, resultDesc: 'Request cancelled by user', delaySeconds: 0 }
  return { ...plan, channel: 'daraja' as const, order, payment }
}

async function register (plan: ReturnType<typeof darajaOrder>): Promise<string> {
  const answer = await herald.producer.upsertOrder(plan.orderId, plan.order)
  if (answer.body === undefined) throw new Error(`order upsert failed: ${answer.status} ${answer.code}`)
  return answer.body.subscribeToken
}

t.test('waitForOrder resolves with the final state once the Daraja callback lands', async (t) => {
  const plan = darajaOrder('client-live-1', 'completed')
  const token = await register(plan)
  const attempts: number[] = []
  const waiting = waitForOrder(plan.orderId, { baseUrl: herald.gatewayUrl, token, timeoutMs: 20_000, onAttempt: (n) => attempts.push(n) })
  // The wait is already held by the gateway when the callback arrives: that is the case to prove.
  await until(() => attempts.length === 1, 'the first long-poll')
  const callback = await herald.producer.mpesaCallback(darajaCallback(plan, random))
  t.equal(callback.status, 200)
  const result = await waiting
  t.equal(result.state, 'final')
  t.equal(result.order.paymentStatus, 'completed')
  t.equal(result.order.status, 'paid')
  t.equal(result.order.customer?.firstName, plan.order.customer.firstName, 'its own token shows the customer')
})

t.test('waitForOrder says still pending when nothing happens, and fails fast on an unknown order or bad token', async (t) => {
  const plan = darajaOrder('client-live-2', 'completed')
  const token = await register(plan)
  const result = await waitForOrder(plan.orderId, { baseUrl: herald.gatewayUrl, token, attempts: 2, pauseMs: 10, timeoutMs: 1000 })
  t.equal(result.state, 'pending')
  t.equal(result.order.paymentStatus, 'pending')
  t.equal(result.order.timedOut, true)

  const unknown = await waitForOrder('client-live-none', { baseUrl: herald.gatewayUrl, token: herald.adminToken }).catch((e: unknown) => e)
  t.ok(unknown instanceof HeraldClientError)
  t.match(unknown, { code: 'HERALD_ERR_NOT_FOUND', status: 404 })
  await t.rejects(waitForOrder(plan.orderId, { baseUrl: herald.gatewayUrl, token: 'not-a-token' }), { code: 'HERALD_ERR_UNAUTHORIZED', status: 401 })
})

t.test('followOrder delivers the cancellation live', async (t) => {
  const plan = darajaOrder('client-live-3', 'cancelled')
  const token = await register(plan)
  const statuses: string[] = []
  let connected = false
  const unsubscribe = followOrder(plan.orderId, {
    onUpdate: (order) => statuses.push(order.paymentStatus),
    onConnectionChange: (c) => { connected = c }
  }, { baseUrl: herald.gatewayUrl, token })
  t.teardown(unsubscribe)
  await until(() => connected, 'the order stream')
  await herald.producer.mpesaCallback(darajaCallback(plan, random))
  await until(() => statuses.includes('cancelled'), 'the cancellation')
  t.equal(statuses.at(-1), 'cancelled')
})

t.test('followRegistration sees every stage in order and resumes after a gateway restart without a gap', async (t) => {
  const id = 'client-live-reg-1'
  const stage = (name: string, status: 'started' | 'completed') => herald.producer.registrationEvent(id, { type: 'stage', stage: name, status, message: `${name} ${status}` })
  const first = await stage('duplicate_check', 'started')
  t.equal(first.status, 200)
  const token = first.body!.subscribeToken
  const updates: RegistrationUpdate[] = []
  const ids: Array<string | undefined> = []
  const connections: boolean[] = []
  const unsubscribe = followRegistration(id, {
    onUpdate: (u, eventId) => { updates.push(u); ids.push(eventId) },
    onConnectionChange: (c) => connections.push(c)
  }, { baseUrl: herald.gatewayUrl, token, lastEventId: '0', initialDelayMs: 100, maxDelayMs: 500 })
  t.teardown(unsubscribe)
  await until(() => updates.length === 1, 'the replayed first stage')
  await stage('duplicate_check', 'completed')
  await until(() => updates.length === 2, 'the live second stage')

  await herald.stopGateway()
  await until(() => connections.at(-1) === false, 'the client to notice')
  // These land while no gateway runs: the client must get them on resume, in order.
  await stage('core_banking_lookup', 'started')
  await stage('core_banking_lookup', 'completed')
  await herald.startGateway()
  await stage('status_update', 'started')
  await herald.producer.registrationEvent(id, { type: 'final', status: 'APPROVED', message: 'approved' })
  await until(() => updates.some((u) => u.status === 'APPROVED'), 'the verdict')

  t.same(updates.map((u) => `${u.status}:${u.stage ?? ''}:${u.stageStatus ?? ''}`), [
    'PENDING:duplicate_check:started', 'PENDING:duplicate_check:completed', 'PENDING:core_banking_lookup:started',
    'PENDING:core_banking_lookup:completed', 'PENDING:status_update:started', 'APPROVED::'
  ], 'every event once, in order, across the restart')
  t.same(ids, ['1', '2', '3', '4', '5', '6'])
})
