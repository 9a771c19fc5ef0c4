// Talks to the ingest the way real producers do: signed internal calls and unsigned provider callbacks.
import { randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
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
  readonly #webhook: Webhook
  /** Every call's status and latency, for the summary. */
  readonly calls: Array<{ kind: string, status: number, ms: number }> = []

  constructor (target: HeraldTarget) {
    this.#target = target
    this.#webhook = new Webhook(target.internalWebhookSecret)
  }

  upsertOrder (orderId: string, body: OrderUpsertBody): Promise<CallResult<OrderUpsertResponse>> {
    return this.#signed('order', 'PUT', `/v1/orders/${encodeURIComponent(orderId)}`, body)
  }

  registrationEvent (registrationId: string, body: RegistrationEventBody): Promise<CallResult<RegistrationEventResponse>> {
    return this.#signed('registration', 'POST', `/v1/registrations/${encodeURIComponent(registrationId)}/events`, body)
  }

  payheroCallback (body: PayHeroV2Callback | PayHeroAfricaCallback): Promise<CallResult<unknown>> {
    return this.#send('payhero', 'POST', `/webhooks/payhero/${this.#target.payheroCallbackToken}`, JSON.stringify(body), {})
  }

  mpesaCallback (body: DarajaStkCallback): Promise<CallResult<unknown>> {
    return this.#send('mpesa', 'POST', `/webhooks/mpesa/${this.#target.mpesaCallbackToken}`, JSON.stringify(body), {})
  }

  #signed<T> (kind: string, method: string, path: string, body: unknown): Promise<CallResult<T>> {
    const payload = JSON.stringify(body)
    const id = `msg_${randomUUID()}`
    const timestamp = new Date()
    return this.#send(kind, method, path, payload, {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': this.#webhook.sign(id, timestamp, payload)
    })
  }

  async #send<T> (kind: string, method: string, path: string, payload: string, headers: Record<string, string>): Promise<CallResult<T>> {
    const started = performance.now()
    let status = 0
    let body: unknown
    try {
      const response = await fetch(`${this.#target.ingestUrl}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body: payload,
        signal: AbortSignal.timeout(30_000)
      })
      status = response.status
      body = await response.json().catch(() => undefined)
    } catch {
      status = 0 // unreachable or timed out
    }
    const ms = performance.now() - started
    this.calls.push({ kind, status, ms })
    const ok = status >= 200 && status < 300
    const code = ok ? undefined : (body as { code?: string } | undefined)?.code ?? (status === 0 ? 'NETWORK' : `HTTP_${status}`)
    return { status, body: ok ? body as T : undefined, code, ms }
  }
}
