import t from 'tap'
import { isDatabaseUnavailable, orderSnapshotOf, registrationSnapshotOf, type OrderRow, type RegistrationRow } from '../src/index.js'

const at = new Date('2026-03-01T10:00:00.000Z')
const orderRow: OrderRow = {
  id: 'o-1',
  orderNumber: 'N-1',
  totalAmount: '1500.50',
  currency: 'KES',
  ticketCount: 2,
  customerEmail: 'a@example.com',
  customerFirstName: 'Ann',
  customerLastName: 'Lee',
  customerPhone: null,
  provider: 'mpesa',
  externalReference: null,
  checkoutRequestId: 'ws_CO_1',
  merchantRequestId: null,
  providerReference: null,
  paymentStatus: 'completed',
  status: 'confirmed',
  outcome: 'completed',
  resultCode: 0,
  resultDesc: 'ok',
  receipt: 'R1',
  needsReview: false,
  version: 3,
  createdAt: at,
  updatedAt: at
}

t.test('an order row becomes the contracts\' snapshot, from a Drizzle row or a raw pg row alike', async (t) => {
  const expected = {
    orderId: 'o-1',
    orderNumber: 'N-1',
    paymentStatus: 'completed',
    status: 'confirmed',
    totalAmount: 1500.5,
    currency: 'KES',
    ticketCount: 2,
    customer: { email: 'a@example.com', firstName: 'Ann', lastName: 'Lee' },
    payment: { provider: 'mpesa', outcome: 'completed', resultCode: 0, resultDesc: 'ok', receipt: 'R1', checkoutRequestId: 'ws_CO_1' },
    needsReview: false,
    createdAt: '2026-03-01T10:00:00.000Z',
    updatedAt: '2026-03-01T10:00:00.000Z',
    version: 3
  }
  t.same(orderSnapshotOf(orderRow), expected)
  // A raw query can hand back timestamps as strings and leave optional columns out.
  const raw = { ...orderRow, createdAt: '2026-03-01 10:00:00+00', updatedAt: '2026-03-01T10:00:00Z', receipt: undefined } as unknown as OrderRow
  t.same(orderSnapshotOf(raw), { ...expected, payment: { ...expected.payment, receipt: null } })
})

t.test('a registration snapshot carries details only when they are a JSON object', async (t) => {
  const row: RegistrationRow = {
    id: 'r-1', status: 'PROCESSING', stage: 'kyc', message: 'Checking', processLog: null, details: null, version: 1, createdAt: at, updatedAt: at
  } as RegistrationRow
  t.notOk('details' in registrationSnapshotOf(row))
  t.same(registrationSnapshotOf(row).processLog, [])
  t.same(registrationSnapshotOf({ ...row, details: { tier: 2 } }).details, { tier: 2 })
  t.notOk('details' in registrationSnapshotOf({ ...row, details: 'text' }))
})

t.test('isDatabaseUnavailable tells an outage from a bad query', async (t) => {
  t.ok(isDatabaseUnavailable(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })))
  t.ok(isDatabaseUnavailable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: '57P01' }) })))
  t.ok(isDatabaseUnavailable(new AggregateError([Object.assign(new Error('x'), { code: 'ETIMEDOUT' })])))
  t.ok(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')))
  t.notOk(isDatabaseUnavailable(Object.assign(new Error('syntax'), { code: '42601' })))
  t.notOk(isDatabaseUnavailable(null))
})
