// What the bench does to Herald over HTTP: register orders and registrations (signed), send M-PESA
// callbacks, hold long-polls and follow SSE streams, each on a connection pool sized for the run.
import { Pool } from 'undici'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type {
  DarajaStkCallback, OrderUpsertBody, OrderUpsertResponse, OrderWaitResponse, RegistrationEventBody,
  RegistrationEventResponse
} from '@herald/contracts'
import { signStandardWebhook } from '@herald/producer'

export interface HeraldDriverOptions {
  ingestUrl: string
  gatewayUrl: string
  mpesaToken: string
  internalSecret: string
  /** Connections to the gateway: one per held long-poll or SSE stream, plus a few. */
  gatewayConnections: number
  /** Connections to the ingest: the most concurrent calls the run makes. */
  ingestConnections: number
}

export interface Answer<T> {
  status: number
  body: T
}

export interface RegisteredOrder {
  orderId: string
  checkoutRequestId: string
  merchantRequestId: string
  token: string
  version: number
}

export interface SseHandle {
  /** Resolves once the stream is open and the `connected` message arrived. */
  connected: Promise<void>
  close (): void
}

export function orderBody (index: number, checkoutRequestId: string, merchantRequestId: string): OrderUpsertBody {
  return {
    orderNumber: `BENCH-${index}`,
    totalAmount: 100,
    currency: 'KES',
    ticketCount: 1,
    customer: { email: `bench${index}@example.com`, firstName: 'Bench', lastName: 'Runner' },
    provider: 'mpesa',
    references: { checkoutRequestId, merchantRequestId }
  }
}

export function darajaSuccess (order: Pick<RegisteredOrder, 'checkoutRequestId' | 'merchantRequestId'>, receipt: string): DarajaStkCallback {
  return {
    Body: {
      stkCallback: {
        MerchantRequestID: order.merchantRequestId,
        CheckoutRequestID: order.checkoutRequestId,
        ResultCode: 0,
        ResultDesc: 'The service request is processed successfully.',
        CallbackMetadata: {
          Item: [
            { Name: 'Amount', Value: 100 },
            { Name: 'MpesaReceiptNumber', Value: receipt },
            { Name: 'Balance' },
            { Name: 'TransactionDate', Value: 20240101120000 },
            { Name: 'PhoneNumber', Value: 254700000000 }
          ]
        }
      }
    }
  }
}

const timeouts = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 120_000, keepAliveMaxTimeout: 120_000 }

export class HeraldDriver {
  readonly ingest: Pool
  readonly gateway: Pool
  readonly #options: HeraldDriverOptions
  readonly #secret: string

  constructor (options: HeraldDriverOptions) {
    this.#options = options
    this.#secret = options.internalSecret.split(',')[0].trim()
    this.ingest = new Pool(options.ingestUrl, { connections: options.ingestConnections, ...timeouts })
    this.gateway = new Pool(options.gatewayUrl, { connections: options.gatewayConnections, ...timeouts })
  }

  /**
   * The producer's signer without its HTTP: the bench drives the ingest through an undici pool so the
   * client's cost stays out of the throughput figures, and counts refused calls instead of retrying them.
   */
  #signed (body: string): Record<string, string> {
    return { 'content-type': 'application/json', ...signStandardWebhook(this.#secret, body) }
  }

  async #json<T> (pool: Pool, method: 'GET' | 'PUT' | 'POST', path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer<T>> {
    const response = await pool.request({ method, path, body, headers })
    return { status: response.statusCode, body: await response.body.json() as T }
  }

  async registerOrder (index: number, runTag: string): Promise<Answer<OrderUpsertResponse> & { order?: RegisteredOrder }> {
    const orderId = `bench-${runTag}-o${index}`
    const checkoutRequestId = `ws_CO_${runTag}_${index}`
    const merchantRequestId = `bench-${runTag}-m${index}`
    const body = JSON.stringify(orderBody(index, checkoutRequestId, merchantRequestId))
    const answer = await this.#json<OrderUpsertResponse>(this.ingest, 'PUT', `/v1/orders/${orderId}`, body, this.#signed(body))
    if (answer.status !== 200 && answer.status !== 201) return answer
    return {
      ...answer,
      order: { orderId, checkoutRequestId, merchantRequestId, token: answer.body.subscribeToken, version: answer.body.order.version }
    }
  }

  async mpesaCallback (callback: DarajaStkCallback): Promise<Answer<unknown>> {
    return await this.#json(this.ingest, 'POST', `/webhooks/mpesa/${this.#options.mpesaToken}`, JSON.stringify(callback), { 'content-type': 'application/json' })
  }

  async registrationEvent (registrationId: string, event: RegistrationEventBody): Promise<Answer<RegistrationEventResponse>> {
    const body = JSON.stringify(event)
    return await this.#json<RegistrationEventResponse>(this.ingest, 'POST', `/v1/registrations/${registrationId}/events`, body, this.#signed(body))
  }

  /** Holds `GET /api/orders/:id/wait` until the gateway answers. */
  async waitForOrder (order: RegisteredOrder, timeoutMs: number): Promise<Answer<OrderWaitResponse>> {
    const path = `/api/orders/${order.orderId}/wait?timeout=${timeoutMs}&since=${order.version}`
    return await this.#json<OrderWaitResponse>(this.gateway, 'GET', path, undefined, { authorization: `Bearer ${order.token}` })
  }

  /** Follows one registration's SSE stream; `onUpdate` gets each parsed `data:` message. */
  followRegistration (registrationId: string, token: string, onMessage: (message: unknown, event: EventSourceMessage) => void, onEnd: (error?: unknown) => void): SseHandle {
    const controller = new AbortController()
    let markConnected: () => void = () => {}
    let failConnected: (err: unknown) => void = () => {}
    const connected = new Promise<void>((resolve, reject) => { markConnected = resolve; failConnected = reject })
    const parser = createParser({
      onEvent (event) {
        let message: unknown
        try {
          message = JSON.parse(event.data)
        } catch {
          return
        }
        if ((message as { type?: string }).type === 'connected') markConnected()
        onMessage(message, event)
      }
    })
    this.gateway.request({
      method: 'GET',
      path: `/api/registrations/updates/stream?registrationId=${encodeURIComponent(registrationId)}`,
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
      signal: controller.signal
    }).then((response) => {
      if (response.statusCode !== 200) {
        response.body.dump().catch(() => {})
        const err = new Error(`stream answered ${response.statusCode}`)
        failConnected(err)
        onEnd(err)
        return
      }
      // undici's body ignores setEncoding: decode here, keeping characters split across chunks whole.
      const decoder = new TextDecoder()
      response.body.on('data', (chunk: Buffer | string) => parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })))
      response.body.on('error', (err) => { failConnected(err); onEnd(err) })
      response.body.on('end', () => { failConnected(new Error('stream ended')); onEnd() })
    }, (err: unknown) => {
      failConnected(err)
      onEnd(err)
    })
    connected.catch(() => {})
    return { connected, close: () => controller.abort() }
  }

  async close (): Promise<void> {
    await Promise.all([this.ingest.destroy(), this.gateway.destroy()])
  }
}
