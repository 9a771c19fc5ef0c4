import t from 'tap'
import type { PaymentOutcome, PaymentStatus } from '@herald/contracts'
import {
  decideTransition, outcomeOfPayHeroAfrica, outcomeOfResultCode, orderStatusOf, paymentStatusOf
} from '../../src/payments/state-machine.js'

t.test('Daraja / PayHero v2 result codes map to outcomes; unknown codes are never paid', async (t) => {
  const table: Array<[number, PaymentOutcome]> = [
    [0, 'completed'], [1032, 'cancelled'], [1037, 'expired'], [1, 'insufficient_funds'], [2001, 'wrong_pin'],
    [1001, 'failed'], [1019, 'failed'], [17, 'failed'], [26, 'failed'], [1025, 'failed'], [9999, 'failed'],
    [2, 'unknown'], [1036, 'unknown'], [-1, 'unknown'], [500, 'unknown']
  ]
  for (const [code, outcome] of table) t.equal(outcomeOfResultCode(code), outcome, `${code} is ${outcome}`)
})

t.test('PayHero Africa: success flag, status and message decide; a result code wins', async (t) => {
  const table: Array<[Parameters<typeof outcomeOfPayHeroAfrica>[0], PaymentOutcome]> = [
    [{ success: true, status: 'success', message: 'The service request is processed successfully.' }, 'completed'],
    [{ success: true, status: 'Success' }, 'completed'],
    [{ success: false, status: 'failed', message: 'Request Cancelled by user.' }, 'cancelled'],
    [{ success: false, status: 'failed', message: 'DS timeout user cannot be reached' }, 'expired'],
    [{ success: false, status: 'failed', message: 'The transaction has expired' }, 'expired'],
    [{ success: false, status: 'failed', message: 'The balance is insufficient for the transaction.' }, 'insufficient_funds'],
    [{ success: false, status: 'failed', message: 'The initiator information is invalid.' }, 'wrong_pin'],
    [{ success: false, status: 'failed', message: 'System busy' }, 'failed'],
    [{ success: false, status: 'failed' }, 'failed'],
    [{ success: true, status: 'failed', message: 'contradiction' }, 'unknown'],
    [{ success: false, status: 'success' }, 'unknown'],
    [{ success: false, status: 'queued' }, 'unknown'],
    [{ success: false, status: 'failed', message: 'Request cancelled by user', resultCode: 1037 }, 'expired'],
    [{ success: true, status: 'success', resultCode: 0 }, 'completed']
  ]
  for (const [input, outcome] of table) t.equal(outcomeOfPayHeroAfrica(input), outcome, `${JSON.stringify(input)} is ${outcome}`)
})

t.test('outcomes map to the frontend vocabulary and the order status', async (t) => {
  const table: Array<[PaymentOutcome, PaymentStatus, string]> = [
    ['completed', 'completed', 'paid'],
    ['cancelled', 'cancelled', 'cancelled'],
    ['expired', 'failed', 'failed'],
    ['insufficient_funds', 'failed', 'failed'],
    ['wrong_pin', 'failed', 'failed'],
    ['failed', 'failed', 'failed'],
    ['unknown', 'processing', 'pending']
  ]
  for (const [outcome, paymentStatus, status] of table) {
    t.equal(paymentStatusOf(outcome), paymentStatus, `${outcome} -> ${paymentStatus}`)
    t.equal(orderStatusOf(paymentStatus), status, `${paymentStatus} -> order ${status}`)
  }
  t.equal(orderStatusOf('pending'), 'pending')
})

t.test('every transition: open states accept anything, final states never change', async (t) => {
  const outcomes: PaymentOutcome[] = ['completed', 'cancelled', 'expired', 'insufficient_funds', 'wrong_pin', 'failed', 'unknown']
  // The outcome each final state was reached with.
  const finals: Array<[PaymentStatus, PaymentOutcome]> = [
    ['completed', 'completed'], ['cancelled', 'cancelled'], ['failed', 'expired'], ['failed', 'insufficient_funds'],
    ['failed', 'wrong_pin'], ['failed', 'failed']
  ]
  for (const from of ['pending', 'processing'] as const) {
    for (const outcome of outcomes) {
      const decision = decideTransition({ paymentStatus: from, outcome: from === 'processing' ? 'unknown' : null, needsReview: from === 'processing' }, outcome)
      t.equal(decision.kind, 'apply', `${from} + ${outcome} applies`)
      if (decision.kind !== 'apply') continue
      t.equal(decision.next.paymentStatus, paymentStatusOf(outcome))
      t.equal(decision.next.status, orderStatusOf(paymentStatusOf(outcome)))
      t.equal(decision.next.outcome, outcome)
      t.equal(decision.next.needsReview, from === 'processing' || outcome === 'unknown', `${from} + ${outcome}: needsReview`)
    }
  }
  for (const [from, reachedWith] of finals) {
    for (const outcome of outcomes) {
      const decision = decideTransition({ paymentStatus: from, outcome: reachedWith, needsReview: false }, outcome)
      if (outcome === reachedWith) {
        t.same(decision, { kind: 'already' }, `${from}/${reachedWith} + ${outcome} is already so`)
      } else {
        t.same(decision, { kind: 'review', reason: 'final_state_conflict', from, attempted: paymentStatusOf(outcome) }, `${from}/${reachedWith} + ${outcome} goes to review`)
      }
    }
  }
})

t.test('success after cancel is refused for review, and so is cancel after success', async (t) => {
  t.match(decideTransition({ paymentStatus: 'cancelled', outcome: 'cancelled', needsReview: false }, 'completed'), { kind: 'review', from: 'cancelled', attempted: 'completed' })
  t.match(decideTransition({ paymentStatus: 'completed', outcome: 'completed', needsReview: false }, 'cancelled'), { kind: 'review', from: 'completed', attempted: 'cancelled' })
  t.match(decideTransition({ paymentStatus: 'failed', outcome: 'expired', needsReview: false }, 'completed'), { kind: 'review' })
})
