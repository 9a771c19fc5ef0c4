// A small back-end for local runs: receives Herald's outbound webhooks the way docs/BACKENDS.md says to.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Webhook, WebhookVerificationError } from 'standardwebhooks'
import type { BackendWebhookBody } from '@herald/contracts'

export interface ReceivedUpdate {
  webhookId: string
  body: BackendWebhookBody
  /** False when an equal or newer version of the entity had already arrived (a retry, or out of order). */
  fresh: boolean
}

export interface BackendReceiverOptions {
  /** The `whsec_…` secret Herald signs with (BACKEND_WEBHOOK_SECRET). */
  secret: string
  onUpdate?: (update: ReceivedUpdate) => void
  /** Webhook-ids remembered for dedupe; the oldest are forgotten first. */
  maxRemembered?: number
}

const MAX_BODY = 256 * 1024

/**
 * Verifies the signature (401 otherwise), drops a webhook-id it has seen, keeps the highest version per
 * entity and answers 2xx at once: everything slow a real back-end does (tickets, e-mail) belongs after
 * the answer, in its own queue.
 */
export class BackendReceiver {
  readonly #webhook: Webhook
  readonly #server: Server
  readonly #seen = new Set<string>()
  readonly #versions = new Map<string, number>()
  readonly #options: BackendReceiverOptions
  received = 0
  duplicates = 0

  constructor (options: BackendReceiverOptions) {
    this.#options = options
    this.#webhook = new Webhook(options.secret)
    this.#server = createServer((req, res) => { this.#handle(req, res).catch(() => res.destroy()) })
  }

  async listen (port: number, host = '127.0.0.1'): Promise<string> {
    this.#server.listen(port, host)
    await once(this.#server, 'listening')
    return `http://${host}:${(this.#server.address() as AddressInfo).port}/herald`
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return answer(res, 405, { error: 'POST only' })
    let raw = ''
    for await (const chunk of req) {
      raw += String(chunk)
      if (raw.length > MAX_BODY) return answer(res, 413, { error: 'body too large' })
    }
    let body: BackendWebhookBody
    try {
      body = this.#webhook.verify(raw, req.headers as Record<string, string>) as BackendWebhookBody
    } catch (err) {
      if (err instanceof WebhookVerificationError) return answer(res, 401, { error: err.message })
      return answer(res, 400, { error: 'body is not JSON' })
    }
    const webhookId = String(req.headers['webhook-id'])
    this.received++
    if (this.#seen.has(webhookId)) {
      this.duplicates++
      return answer(res, 200, { duplicate: true })
    }
    this.#remember(webhookId)
    const key = body.type === 'order.updated' ? `order:${body.data.orderId}` : `registration:${body.data.registrationId}`
    const fresh = body.data.version > (this.#versions.get(key) ?? 0)
    if (fresh) this.#versions.set(key, body.data.version)
    answer(res, 204)
    this.#options.onUpdate?.({ webhookId, body, fresh })
  }

  #remember (webhookId: string): void {
    this.#seen.add(webhookId)
    if (this.#seen.size > (this.#options.maxRemembered ?? 100_000)) this.#seen.delete(this.#seen.values().next().value!)
  }

  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
  }
}

function answer (res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end()
    return
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** One line per update, as `pnpm receive` prints it. */
export function describeUpdate ({ body, fresh }: ReceivedUpdate): string {
  const stale = fresh ? '' : '  (older than one already seen: dropped)'
  if (body.type === 'order.updated') {
    const o = body.data
    return `order.updated ${o.orderId} v${o.version} ${o.paymentStatus}${o.payment.outcome === null ? '' : ` (${o.payment.outcome})`}${stale}`
  }
  const r = body.data
  return `registration.updated ${r.registrationId} v${r.version} ${r.status}${r.stage === '' ? '' : ` ${r.stage}`}${stale}`
}
