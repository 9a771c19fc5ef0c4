// `pnpm simulate` against a real Herald: every call accepted and every order ends as its callback says.
import t from 'tap'
import { runSimulation } from '@herald/simulator'
import { startHerald } from './herald.ts'

t.test('a simulated run is accepted by the ingest and the gateway reports the expected final states', async (t) => {
  const herald = await startHerald(t)
  const summary = await runSimulation(herald.target, {
    orders: 24,
    registrations: 8,
    rate: 20,
    durationSeconds: undefined,
    speed: 20,
    duplicateRate: 0.2,
    earlyCallbackRate: 0.1,
    seed: 1234,
    verify: true,
    runId: 'simtest'
  })
  t.same(summary.failedCalls, {}, 'no call was refused')
  t.equal(summary.orders.finished, 24)
  t.equal(summary.registrations.finished, 8)
  t.match(summary.verification, { checked: 24, matched: 24, mismatches: [] })
})
