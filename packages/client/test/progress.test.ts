import t from 'tap'
import type { RegistrationSnapshot, RegistrationUpdate } from '@herald/contracts'
import { orderProgress, registrationProgress, updatesFromSnapshot } from '../src/progress.ts'

const at = '2025-01-01T00:00:00.000Z'
const stage = (name: string, stageStatus: 'started' | 'completed' | 'failed'): RegistrationUpdate =>
  ({ registrationId: '42', status: 'PENDING', stage: name, stageStatus, message: `${name} ${stageStatus}`, timestamp: Date.parse(at) })

t.test('progress counts completed stages over known stages', async (t) => {
  t.equal(registrationProgress([]).percent, 0)
  const halfway = registrationProgress([stage('duplicate_check', 'started'), stage('duplicate_check', 'completed'), stage('core_banking_lookup', 'started')])
  t.equal(halfway.percent, 33)
  t.same(halfway.stages.map((s) => [s.name, s.status]), [
    ['duplicate_check', 'completed'], ['core_banking_lookup', 'started'], ['status_update', 'waiting']
  ])
  t.equal(halfway.finalStatus, null)
  t.equal(halfway.latest?.stage, 'core_banking_lookup')
})

t.test('a final verdict is 100 whatever stages were seen; unknown stages are appended', async (t) => {
  const done = registrationProgress([
    stage('duplicate_check', 'completed'),
    stage('sanctions_screening', 'completed'),
    { registrationId: '42', status: 'REJECTED', message: 'no', timestamp: Date.parse(at) }
  ])
  t.equal(done.percent, 100)
  t.equal(done.finalStatus, 'REJECTED')
  t.same(done.stages.map((s) => s.name), ['duplicate_check', 'core_banking_lookup', 'status_update', 'sanctions_screening'])
  t.equal(registrationProgress([stage('a', 'completed')], ['a', 'b']).percent, 50)
})

t.test('a snapshot after a reset becomes the updates a subscriber would have seen', async (t) => {
  const snapshot: RegistrationSnapshot = {
    registrationId: '42',
    status: 'APPROVED',
    stage: 'final',
    message: 'approved',
    processLog: [
      { stage: 'duplicate_check', status: 'completed', timestamp: at },
      { stage: 'core_banking_lookup', status: 'completed', message: 'found', timestamp: at }
    ],
    createdAt: at,
    updatedAt: at,
    version: 5
  }
  const updates = updatesFromSnapshot(snapshot)
  t.same(updates, [
    { registrationId: '42', status: 'PENDING', stage: 'duplicate_check', stageStatus: 'completed', message: 'completed: duplicate_check', timestamp: 1735689600000 },
    { registrationId: '42', status: 'PENDING', stage: 'core_banking_lookup', stageStatus: 'completed', message: 'found', timestamp: 1735689600000 },
    { registrationId: '42', status: 'APPROVED', message: 'approved', timestamp: 1735689600000, processLog: snapshot.processLog }
  ], 'in the shape the stream sends: PENDING stages, then the verdict without a stage')
  t.equal(registrationProgress(updates).percent, 100)
  t.equal(updatesFromSnapshot({ ...snapshot, status: 'PROCESSING' }).length, 2)
})

t.test('order progress: pending 0, processing 50, final 100', async (t) => {
  t.equal(orderProgress(null), 0)
  t.equal(orderProgress({ paymentStatus: 'pending' }), 0)
  t.equal(orderProgress({ paymentStatus: 'processing' }), 50)
  t.equal(orderProgress({ paymentStatus: 'cancelled' }), 100)
})
