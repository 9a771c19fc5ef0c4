import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import {
  validateDarajaStk, validatePayHeroAfrica, validatePayHeroV2, validateOrderUpsert,
  validateStreamEvent, registrationUpdateOf, compileValidator, RegistrationEventBody, RegistrationSseUpdate,
  type CompiledValidator
} from '../src/index.js'

const validateRegistrationEvent = compileValidator(RegistrationEventBody)

const fixturesDir = new URL('./fixtures/', import.meta.url)
const fixture = (name: string): any => JSON.parse(readFileSync(new URL(name, fixturesDir), 'utf8'))

const validatorFor: Record<string, CompiledValidator<unknown>> = {
  'payhero-legacy': validatePayHeroV2,
  'payhero-africa': validatePayHeroAfrica,
  'daraja-stk': validateDarajaStk
}

t.test('every provider fixture is accepted by its schema', async (t) => {
  const files = readdirSync(fixturesDir).filter((f) => f.endsWith('.json'))
  t.ok(files.length >= 6, 'the six shared fixtures are present')
  for (const file of files) {
    const prefix = Object.keys(validatorFor).find((p) => file.startsWith(p))
    t.ok(prefix, `${file} has a validator`)
    const result = validatorFor[prefix!]!.validate(fixture(file))
    t.same(result.ok ? [] : result.errors, [], `${file} is valid`)
  }
})

const v2 = () => fixture('payhero-legacy-success.json')
const africa = () => fixture('payhero-africa-success.json')
const daraja = () => fixture('daraja-stk-success.json')
const order = () => ({
  orderNumber: 'INV-009',
  totalAmount: 10,
  currency: 'KES',
  ticketCount: 2,
  customer: { email: 'jane@example.com', firstName: 'Jane', lastName: 'Doe' },
  provider: 'payhero',
  references: { externalReference: 'INV-009', checkoutRequestId: 'ws_CO_1' }
})

interface BadCase { name: string, validator: CompiledValidator<unknown>, value: unknown, field: string }
const badCases: BadCase[] = [
  { name: 'PayHero v2 status as a string', validator: validatePayHeroV2, value: { ...v2(), status: 'true' }, field: '/status' },
  { name: 'PayHero v2 ResultCode as a string', validator: validatePayHeroV2, value: (() => { const b = v2(); b.response.ResultCode = '0'; return b })(), field: '/response/ResultCode' },
  { name: 'PayHero v2 without CheckoutRequestID', validator: validatePayHeroV2, value: (() => { const b = v2(); delete b.response.CheckoutRequestID; return b })(), field: '/response/CheckoutRequestID' },
  { name: 'PayHero v2 with a huge ResultDesc', validator: validatePayHeroV2, value: (() => { const b = v2(); b.response.ResultDesc = 'x'.repeat(100_000); return b })(), field: '/response/ResultDesc' },
  { name: 'PayHero v2 without response', validator: validatePayHeroV2, value: { status: true }, field: '/response' },
  { name: 'PayHero Africa amount as a string', validator: validatePayHeroAfrica, value: { ...africa(), amount: '1' }, field: '/amount' },
  { name: 'PayHero Africa without reference', validator: validatePayHeroAfrica, value: (() => { const b = africa(); delete b.reference; return b })(), field: '/reference' },
  { name: 'PayHero Africa lower-case currency', validator: validatePayHeroAfrica, value: { ...africa(), currency: 'kes' }, field: '/currency' },
  { name: 'Daraja ResultCode as a float', validator: validateDarajaStk, value: (() => { const b = daraja(); b.Body.stkCallback.ResultCode = 0.5; return b })(), field: '/Body/stkCallback/ResultCode' },
  { name: 'Daraja ResultCode past a 32-bit integer', validator: validateDarajaStk, value: (() => { const b = daraja(); b.Body.stkCallback.ResultCode = -4503599627370496; return b })(), field: '/Body/stkCallback/ResultCode' },
  { name: 'PayHero v2 Amount of 1e308', validator: validatePayHeroV2, value: (() => { const b = v2(); b.response.Amount = 1e308; return b })(), field: '/response/Amount' },
  { name: 'PayHero Africa result_code past a 32-bit integer', validator: validatePayHeroAfrica, value: { ...africa(), result_code: 2 ** 31 }, field: '/result_code' },
  { name: 'Daraja without stkCallback', validator: validateDarajaStk, value: { Body: {} }, field: '/Body/stkCallback' },
  { name: 'Daraja metadata item Value as an object', validator: validateDarajaStk, value: (() => { const b = daraja(); b.Body.stkCallback.CallbackMetadata.Item[0].Value = {}; return b })(), field: '/Body/stkCallback/CallbackMetadata/Item/0/Value' },
  { name: 'Daraja huge CheckoutRequestID', validator: validateDarajaStk, value: (() => { const b = daraja(); b.Body.stkCallback.CheckoutRequestID = 'x'.repeat(10_000); return b })(), field: '/Body/stkCallback/CheckoutRequestID' },
  { name: 'order with a negative amount', validator: validateOrderUpsert, value: { ...order(), totalAmount: -1 }, field: '/totalAmount' },
  { name: 'order with an amount that rounds to 0 (0.004)', validator: validateOrderUpsert, value: { ...order(), totalAmount: 0.004 }, field: '/totalAmount' },
  { name: 'order with three decimals', validator: validateOrderUpsert, value: { ...order(), totalAmount: 10.005 }, field: '/totalAmount' },
  { name: 'order in yen with decimals (its minor unit is 0)', validator: validateOrderUpsert, value: { ...order(), currency: 'JPY', totalAmount: 100.5 }, field: '/totalAmount' },
  { name: 'order in a three-decimal currency with three decimals (stored with two)', validator: validateOrderUpsert, value: { ...order(), currency: 'BHD', totalAmount: 1.234 }, field: '/totalAmount' },
  { name: 'order with a bad email', validator: validateOrderUpsert, value: { ...order(), customer: { ...order().customer, email: 'not-an-email' } }, field: '/customer/email' },
  { name: 'order with an unknown provider', validator: validateOrderUpsert, value: { ...order(), provider: 'paypal' }, field: '/provider' },
  { name: 'order with an extra field', validator: validateOrderUpsert, value: { ...order(), isAdmin: true }, field: '/isAdmin' },
  { name: 'order without currency', validator: validateOrderUpsert, value: (() => { const b: any = order(); delete b.currency; return b })(), field: '/currency' },
  { name: 'registration stage with an unknown status', validator: validateRegistrationEvent, value: { type: 'stage', stage: 'duplicate_check', status: 'halfway' }, field: '/status' },
  { name: 'registration final status in lower case', validator: validateRegistrationEvent, value: { type: 'final', status: 'approved', message: 'ok' }, field: '/status' }
]

t.test('malformed bodies are rejected with the failing field named', async (t) => {
  for (const c of badCases) {
    const result = c.validator.validate(c.value)
    t.notOk(result.ok, `${c.name} is rejected`)
    if (!result.ok) {
      t.ok(result.errors.some((e) => e.field === c.field), `${c.name} names ${c.field} (got ${JSON.stringify(result.errors.map((e) => e.field))})`)
    }
  }
})

t.test('a well-formed order upsert and registration events are accepted', async (t) => {
  t.ok(validateOrderUpsert.check(order()))
  for (const [totalAmount, currency] of [[0.01, 'KES'], [19.99, 'KES'], [0.07, 'KES'], [1234567.89, 'KES'], [999999999999.99, 'USD'], [1500, 'JPY'], [1.23, 'BHD']] as const) {
    t.ok(validateOrderUpsert.check({ ...order(), totalAmount, currency }), `${currency} ${totalAmount} is accepted`)
  }
  t.ok(validateRegistrationEvent.check({ type: 'stage', stage: 'core_banking_lookup', status: 'started', message: 'Looking up' }))
  t.ok(validateRegistrationEvent.check({
    type: 'final',
    status: 'APPROVED',
    message: 'Approved',
    processLog: [{ stage: 'duplicate_check', status: 'completed', timestamp: '2026-11-22T10:00:00.000Z' }]
  }))
})

t.test('stream events are validated', async (t) => {
  const now = new Date().toISOString()
  const event = {
    eventId: '1',
    entityType: 'order',
    entityId: 'ord_1',
    version: 1,
    occurredAt: now,
    order: {
      orderId: 'ord_1',
      orderNumber: 'INV-1',
      paymentStatus: 'pending',
      status: 'pending',
      totalAmount: 10,
      currency: 'KES',
      ticketCount: 1,
      customer: null,
      payment: { provider: 'mpesa', outcome: null, resultCode: null, resultDesc: null, receipt: null, checkoutRequestId: null },
      needsReview: false,
      createdAt: now,
      updatedAt: now,
      version: 1
    }
  }
  t.ok(validateStreamEvent.check(event))
  t.notOk(validateStreamEvent.check({ ...event, entityId: 'bad id\nwith newline' }), 'entity ids cannot carry a newline into SSE')
  const traced = { ...event, requestId: 'req-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=a1' }
  t.ok(validateStreamEvent.check(traced), 'an event may carry the W3C trace context of its cause')
  t.notOk(validateStreamEvent.check({ ...traced, traceparent: '00-4BF92F35-00f067aa0ba902b7-01' }), 'a traceparent must be W3C\'s')
  t.notOk(validateStreamEvent.check({ ...traced, tracestate: 'k=v,'.repeat(200) }), 'tracestate is bounded as W3C bounds it')
})

t.test('subscribers get a recorded registration event in the old design\'s shape', async (t) => {
  const timestamp = '2023-12-13T18:43:20.000Z'
  const validUpdate = compileValidator(RegistrationSseUpdate)
  const started = registrationUpdateOf({ registrationId: '42', status: 'started', stage: 'duplicate_check', message: '', timestamp })
  t.same(started, { registrationId: '42', status: 'PENDING', stage: 'duplicate_check', stageStatus: 'started', message: 'started: duplicate_check', timestamp: 1702493000000 },
    'PENDING while stages run, the stage\'s own status apart, epoch ms, the old default message (for events recorded without one)')
  t.same(Object.keys(started), ['registrationId', 'status', 'stage', 'stageStatus', 'message', 'timestamp'])
  const completed = registrationUpdateOf({ registrationId: '42', status: 'completed', stage: 't24_lookup', message: 'Found 5 accounts', timestamp, details: { accountsFound: 5 } })
  t.same(completed, { registrationId: '42', status: 'PENDING', stage: 't24_lookup', stageStatus: 'completed', message: 'Found 5 accounts', timestamp: 1702493000000, details: { accountsFound: 5 } })
  const processLog = [{ stage: 't24_lookup', status: 'completed' as const, timestamp }]
  const final = registrationUpdateOf({ registrationId: '42', status: 'APPROVED', stage: 'final', message: 'Validation complete', timestamp, details: { accountsFound: 5 }, processLog })
  t.same(final, { registrationId: '42', status: 'APPROVED', message: 'Validation complete', timestamp: 1702493000000, processLog, details: { accountsFound: 5 } }, 'the verdict has no stage')
  for (const data of [started, completed, final]) t.ok(validUpdate.check({ type: 'update', data, timestamp: data.timestamp }))
  t.notOk(validUpdate.check({ type: 'update', data: { ...started, timestamp }, timestamp: 0 }), 'an ISO timestamp is not the wire format')
})
