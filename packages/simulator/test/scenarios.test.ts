import t from 'tap'
import {
  RegistrationEventBody, compileValidator, validateDarajaStk, validateOrderUpsert, validatePayHeroAfrica, validatePayHeroV2
} from '@herald/contracts'
import {
  darajaCallback, payheroAfricaCallback, payheroV2Callback, planOrder, planRegistration, seededRandom
} from '../src/scenarios.ts'

const validateRegistrationEvent = compileValidator(RegistrationEventBody)

t.test('every simulated order and callback is a valid wire shape for its channel', async (t) => {
  const random = seededRandom(7)
  const channels = new Set<string>()
  for (let i = 1; i <= 300; i++) {
    const plan = planOrder(random, `sim-x-o${i}`, i)
    channels.add(plan.channel)
    t.ok(validateOrderUpsert.check(plan.order), `order ${i}`)
    const valid = plan.channel === 'daraja'
      ? validateDarajaStk.check(darajaCallback(plan, random))
      : plan.channel === 'payhero_v2'
        ? validatePayHeroV2.check(payheroV2Callback(plan, random))
        : validatePayHeroAfrica.check(payheroAfricaCallback(plan, random))
    if (!valid) t.fail(`callback ${i} (${plan.channel})`)
  }
  t.same([...channels].sort(), ['daraja', 'payhero_africa', 'payhero_v2'])
})

t.test('the outcome mix is mostly success with every failure kind present', async (t) => {
  const random = seededRandom(11)
  const outcomes: Record<string, number> = {}
  for (let i = 0; i < 5000; i++) {
    const outcome = planOrder(random, 'o', i).payment.outcome
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
  }
  t.ok(outcomes.completed! > 3500 && outcomes.completed! < 4300, `completed ${outcomes.completed}`)
  for (const kind of ['cancelled', 'expired', 'insufficient_funds', 'wrong_pin', 'unknown']) t.ok(outcomes[kind]! > 0, kind)
})

t.test('a registration runs its stages in order and ends with its verdict', async (t) => {
  const random = seededRandom(3)
  const finals = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const plan = planRegistration(random, `sim-x-r${i}`)
    finals.add(plan.finalStatus)
    for (const step of plan.steps) if (!validateRegistrationEvent.check(step.body)) t.fail(`step of ${i}`)
    const stages = plan.steps.filter((s) => s.body.type === 'stage').map((s) => s.body.type === 'stage' ? `${s.body.stage}:${s.body.status}` : '')
    t.equal(stages[0], 'duplicate_check:started')
    const last = plan.steps.at(-1)!.body
    t.match(last, { type: 'final', status: plan.finalStatus })
    if (plan.finalStatus === 'APPROVED') {
      t.same(stages, ['duplicate_check:started', 'duplicate_check:completed', 'core_banking_lookup:started',
        'core_banking_lookup:completed', 'status_update:started', 'status_update:completed'])
    }
  }
  t.same([...finals].sort(), ['APPROVED', 'DUPLICATE', 'FAILED', 'REJECTED'])
})

t.test('the same seed plays the same run', async (t) => {
  const a = planOrder(seededRandom(42), 'o', 1)
  const b = planOrder(seededRandom(42), 'o', 1)
  t.same(a, b)
})
