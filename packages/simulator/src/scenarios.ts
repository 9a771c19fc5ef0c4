// What realistic traffic looks like: who pays how, how it ends, how long it takes, what providers send.
import type {
  DarajaStkCallback, FinalStatus, OrderUpsertBody, PaymentOutcome, PayHeroAfricaCallback, PayHeroV2Callback,
  RegistrationEventBody
} from '@herald/contracts'

export type Random = () => number

/** mulberry32: a seeded generator so a run can be repeated with `--seed`. */
export function seededRandom (seed: number): Random {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6D2B79F5) >>> 0
    let x = Math.imul(state ^ (state >>> 15), 1 | state)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

export function pick<T> (random: Random, weighted: ReadonlyArray<readonly [T, number]>): T {
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0)
  let roll = random() * total
  for (const [value, weight] of weighted) {
    roll -= weight
    if (roll < 0) return value
  }
  return weighted[weighted.length - 1]![0]
}

const between = (random: Random, min: number, max: number): number => min + (max - min) * random()

export type Channel = 'daraja' | 'payhero_v2' | 'payhero_africa'

export interface PaymentScenario {
  outcome: PaymentOutcome
  resultCode: number
  resultDesc: string
  /** Seconds from the STK push to the provider's callback, before `--speed`. */
  delaySeconds: number
}

/** Result codes as Daraja reports them, weighted by how often checkouts end that way. */
const OUTCOMES: ReadonlyArray<readonly [Omit<PaymentScenario, 'delaySeconds'> & { delay: [number, number] }, number]> = [
  [{ outcome: 'completed', resultCode: 0, resultDesc: 'The service request is processed successfully.', delay: [4, 15] }, 78],
  [{ outcome: 'cancelled', resultCode: 1032, resultDesc: 'Request cancelled by user', delay: [2, 8] }, 10],
  [{ outcome: 'expired', resultCode: 1037, resultDesc: 'DS timeout user cannot be reached', delay: [25, 40] }, 5],
  [{ outcome: 'insufficient_funds', resultCode: 1, resultDesc: 'The balance is insufficient for the transaction.', delay: [3, 8] }, 3],
  [{ outcome: 'wrong_pin', resultCode: 2001, resultDesc: 'The initiator information is invalid.', delay: [5, 12] }, 3],
  [{ outcome: 'unknown', resultCode: 4217, resultDesc: 'Unrecognised result from the switch', delay: [5, 15] }, 1]
]

export function paymentScenario (random: Random): PaymentScenario {
  const { delay, ...rest } = pick(random, OUTCOMES)
  return { ...rest, delaySeconds: between(random, delay[0], delay[1]) }
}

export function channel (random: Random): Channel {
  return pick(random, [['daraja', 40], ['payhero_v2', 30], ['payhero_africa', 30]])
}

/** The payment status the gateway should end up reporting for an outcome. */
export function expectedPaymentStatus (outcome: PaymentOutcome): string {
  if (outcome === 'completed') return 'completed'
  if (outcome === 'cancelled') return 'cancelled'
  if (outcome === 'unknown') return 'processing'
  return 'failed'
}

const FIRST_NAMES = ['Amina', 'Brian', 'Wanjiru', 'Otieno', 'Faith', 'Kevin', 'Njeri', 'Mwangi', 'Achieng', 'Kiprono']
const LAST_NAMES = ['Odhiambo', 'Kamau', 'Wambui', 'Mutua', 'Chebet', 'Njoroge', 'Atieno', 'Kiptoo', 'Omondi', 'Karanja']
const PRICES = [500, 1000, 1500, 2500, 3000, 5000]

const digits = (random: Random, n: number): string => Array.from({ length: n }, () => Math.floor(random() * 10)).join('')
const letters = (random: Random, n: number): string =>
  Array.from({ length: n }, () => 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789'[Math.floor(random() * 34)]).join('')

export interface OrderPlan {
  orderId: string
  channel: Channel
  order: OrderUpsertBody
  payment: PaymentScenario
  phone: string
}

export function planOrder (random: Random, orderId: string, sequence: number): OrderPlan {
  const via = channel(random)
  const firstName = FIRST_NAMES[Math.floor(random() * FIRST_NAMES.length)]!
  const lastName = LAST_NAMES[Math.floor(random() * LAST_NAMES.length)]!
  const tickets = 1 + Math.floor(random() * 4)
  const phone = `2547${digits(random, 8)}`
  const checkoutRequestId = `ws_CO_${digits(random, 14)}${digits(random, 8)}`
  const references: OrderUpsertBody['references'] = via === 'daraja'
    ? { checkoutRequestId, merchantRequestId: `${digits(random, 5)}-${digits(random, 8)}-1` }
    : via === 'payhero_v2'
      ? { checkoutRequestId, externalReference: `INV-${sequence}-${letters(random, 4)}` }
      : { providerReference: `UFD${digits(random, 9)}.${letters(random, 2)}`, externalReference: `INV-${sequence}-${letters(random, 4)}` }
  return {
    orderId,
    channel: via,
    phone,
    payment: paymentScenario(random),
    order: {
      orderNumber: `HX-${String(sequence).padStart(5, '0')}`,
      totalAmount: PRICES[Math.floor(random() * PRICES.length)]! * tickets,
      currency: 'KES',
      ticketCount: tickets,
      customer: { email: `${firstName}.${lastName}@example.com`.toLowerCase(), firstName, lastName, phone: `+${phone}` },
      provider: via === 'daraja' ? 'mpesa' : 'payhero',
      references
    }
  }
}

export function darajaCallback (plan: OrderPlan, random: Random): DarajaStkCallback {
  const { payment, order } = plan
  const stkCallback: DarajaStkCallback['Body']['stkCallback'] = {
    MerchantRequestID: order.references.merchantRequestId ?? `${digits(random, 5)}-${digits(random, 8)}-1`,
    CheckoutRequestID: order.references.checkoutRequestId!,
    ResultCode: payment.resultCode,
    ResultDesc: payment.resultDesc
  }
  if (payment.outcome === 'completed') {
    stkCallback.CallbackMetadata = {
      Item: [
        { Name: 'Amount', Value: order.totalAmount },
        { Name: 'MpesaReceiptNumber', Value: letters(random, 10) },
        { Name: 'Balance' },
        { Name: 'TransactionDate', Value: Number(new Date().toISOString().replace(/\D/g, '').slice(0, 14)) },
        { Name: 'PhoneNumber', Value: Number(plan.phone) }
      ]
    }
  }
  return { Body: { stkCallback } }
}

export function payheroV2Callback (plan: OrderPlan, random: Random): PayHeroV2Callback {
  const { payment, order } = plan
  const paid = payment.outcome === 'completed'
  return {
    forward_url: '',
    status: paid,
    response: {
      Amount: order.totalAmount,
      CheckoutRequestID: order.references.checkoutRequestId!,
      ExternalReference: order.references.externalReference,
      MerchantRequestID: `${digits(random, 4)}-${digits(random, 8)}-1`,
      MpesaReceiptNumber: paid ? letters(random, 10) : '',
      Phone: `+${plan.phone}`,
      ResultCode: payment.resultCode,
      ResultDesc: payment.resultDesc,
      Status: paid ? 'Success' : 'Failed'
    }
  }
}

export function payheroAfricaCallback (plan: OrderPlan, random: Random): PayHeroAfricaCallback {
  const { payment, order } = plan
  const paid = payment.outcome === 'completed'
  return {
    success: paid,
    // An unknown outcome arrives as a status nobody documented, which is how PayHero Africa shows one.
    status: paid ? 'success' : payment.outcome === 'unknown' ? 'on_hold' : 'failed',
    message: payment.resultDesc,
    reference: order.references.providerReference!,
    external_reference: order.references.externalReference,
    amount: order.totalAmount,
    currency: 'KES',
    transaction_id: '',
    transaction_date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    transaction_type: 'inbound_payment',
    provider_reference: paid ? letters(random, 10) : '',
    provider: 'mpesa_dc',
    callback_urls: null
  }
}

export interface RegistrationStep {
  /** Seconds after the previous step, before `--speed`. */
  afterSeconds: number
  body: RegistrationEventBody
}

export interface RegistrationPlan {
  registrationId: string
  finalStatus: FinalStatus
  steps: RegistrationStep[]
}

const STAGE_MESSAGES: Record<string, [string, string]> = {
  duplicate_check: ['Checking for an existing registration', 'No duplicate found'],
  core_banking_lookup: ['Looking the customer up in core banking', 'Customer record found'],
  status_update: ['Updating the registration status', 'Status updated']
}

/**
 * A registration's back-office run: each stage started then completed, then a verdict. Duplicates stop
 * after the duplicate check; a failed core-banking lookup ends FAILED.
 */
export function planRegistration (random: Random, registrationId: string): RegistrationPlan {
  const finalStatus = pick<FinalStatus>(random, [['APPROVED', 70], ['REJECTED', 15], ['DUPLICATE', 10], ['FAILED', 5]])
  const steps: RegistrationStep[] = []
  const log: Array<{ stage: string, status: 'started' | 'completed' | 'failed', message: string }> = []
  const stage = (name: string, status: 'started' | 'completed' | 'failed', message: string, after: [number, number]): void => {
    steps.push({ afterSeconds: between(random, after[0], after[1]), body: { type: 'stage', stage: name, status, message } })
    log.push({ stage: name, status, message })
  }
  const run = (name: string, durations: [number, number]): void => {
    stage(name, 'started', STAGE_MESSAGES[name]![0], [0.3, 1])
    stage(name, 'completed', STAGE_MESSAGES[name]![1], durations)
  }
  stage('duplicate_check', 'started', STAGE_MESSAGES.duplicate_check![0], [0.2, 0.8])
  if (finalStatus === 'DUPLICATE') {
    stage('duplicate_check', 'completed', 'An earlier registration matches this ID number', [0.5, 2])
  } else {
    stage('duplicate_check', 'completed', STAGE_MESSAGES.duplicate_check![1], [0.5, 2])
    if (finalStatus === 'FAILED') {
      stage('core_banking_lookup', 'started', STAGE_MESSAGES.core_banking_lookup![0], [0.3, 1])
      stage('core_banking_lookup', 'failed', 'Core banking did not answer in time', [3, 6])
    } else {
      run('core_banking_lookup', [1, 4])
      run('status_update', [0.5, 1.5])
    }
  }
  const verdict: Record<FinalStatus, string> = {
    APPROVED: 'Registration approved',
    COMPLETED: 'Registration completed',
    REJECTED: 'Registration rejected: the customer does not meet the requirements',
    DUPLICATE: 'Registration is a duplicate',
    FAILED: 'Registration could not be checked'
  }
  steps.push({
    afterSeconds: between(random, 0.3, 1),
    body: {
      type: 'final',
      status: finalStatus,
      message: verdict[finalStatus],
      details: { simulated: true },
      processLog: log.map((entry) => ({ ...entry, timestamp: new Date().toISOString() }))
    }
  })
  return { registrationId, finalStatus, steps }
}
