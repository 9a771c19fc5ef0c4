// Talks to the ingest the way real producers do: signed internal calls through @herald/producer, and
// unsigned provider callbacks. Records every call's status and latency for the summary.
import { createProducer, HeraldProducerError, type Producer } from '@herald/producer'
import type {
  DarajaStkCallback, OrderUpsertBody, OrderUpsertResponse, PayHeroAfricaCallback, PayHeroV2Callback,
  RegistrationEventBody, RegistrationEventResponse
} from '@herald/contracts'
import type { HeraldTarget } from './settings.js'

export interface CallResult<T> {
  status: number
  body: T | undefined
  /** The error body's `code` when the call failed. */
  code: string | undefined
  ms: number
}

export class HeraldProducer {
  readonly #target: HeraldTarget
  readonly #producer: Producer
  /** Every call's status and latency, for the summary. */
  readonly calls: Array<{ kind: string, status: number, ms: number }> = []

  constructor (target: HeraldTarget) {
    this.#target = target
    this.#producer = createProducer({ url: target.ingestUrl, secret: target.internalWebhookSecret, timeoutMs: 30_000 })
  }

  upsertOrder (orderId: string, body: OrderUpsertBody): Promise<CallResult<OrderUpsertResponse>> {
    return this.#timed('order', () => this.#signed(() => this.#producer.upsertOrder(orderId, body)))
  }

  registrationEvent (registrationId: string, body: RegistrationEventBody): Promise<CallResult<RegistrationEventResponse>> {
    return this.#timed('registration', () => this.#signed(() => this.#producer.registrationEvent(registrationId, body)))
  }

  payheroCallback (body: PayHeroV2Callback | PayHeroAfricaCallback): Promise<CallResult<unknown>> {
    return this.#timed('payhero', () => this.#callback(`/webhooks/payhero/${this.#target.payheroCallbackToken}`, body))
  }

  mpesaCallback (body: DarajaStkCallback): Promise<CallResult<unknown>> {
    return this.#timed('mpesa', () => this.#callback(`/webhooks/mpesa/${this.#target.mpesaCallbackToken}`, body))
  }

  /** Providers send once and retry on their own schedule: one unsigned attempt. */
  async #callback (path: string, body: unknown): Promise<Omit<CallResult<unknown>, 'ms'>> {
    const response = await fetch(`${this.#target.ingestUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000)
    })
    const answer: unknown = await response.json().catch(() => undefined)
    if (response.ok) return { status: response.status, body: answer, code: undefined }
    return { status: response.status, body: undefined, code: (answer as { code?: string } | undefined)?.code ?? `HTTP_${response.status}` }
  }

  /** Signed calls go through @herald/producer (retries included); the result says how the call ended. */
  async #signed<T> (call: () => Promise<T>): Promise<Omit<CallResult<T>, 'ms'>> {
    try {
      return { status: 200, body: await call(), code: undefined }
    } catch (err) {
      if (!(err instanceof HeraldProducerError)) throw err
      return { status: err.status ?? 0, body: undefined, code: err.code }
    }
  }

  async #timed<T> (kind: string, call: () => Promise<Omit<CallResult<T>, 'ms'>>): Promise<CallResult<T>> {
    const started = performance.now()
    let result: Omit<CallResult<T>, 'ms'>
    try {
      result = await call()
    } catch {
      result = { status: 0, body: undefined, code: 'NETWORK' } // unreachable or timed out
    }
    const ms = performance.now() - started
    this.calls.push({ kind, status: result.status, ms })
    return { ...result, ms }
  }
}
