// A real local HTTP receiver for outbound webhooks: verifies each request's signature and records it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import type { BackendWebhookBody } from '@herald/contracts'

export const BACKEND_SECRET = `whsec_${Buffer.from('herald-test-backend-secret-01234').toString('base64')}`

export interface ReceivedWebhook {
  webhookId: string
  body: BackendWebhookBody
  /** True when the signature verified with BACKEND_SECRET. */
  verified: boolean
  /** What the receiver answered. */
  status: number
  /** When it arrived (ms since epoch). */
  at: number
}

/** Decides the answer to one request (default 200); may hang by returning a promise that never settles. */
export type Responder = (received: Omit<ReceivedWebhook, 'status'>, res: ServerResponse) => number | Promise<number>

export class BackendReceiver {
  readonly received: ReceivedWebhook[] = []
  /** Requests that arrived, answered or not. */
  arrived = 0
  respond: Responder = () => 200
  readonly #server: Server
  readonly #open = new Set<ServerResponse>()
  readonly #verifier = new Webhook(BACKEND_SECRET)
  port = 0

  constructor () {
    this.#server = createServer((req, res) => { this.#handle(req, res).catch(() => { res.destroy() }) })
  }

  async listen (port = 0): Promise<this> {
    this.#server.listen(port, '127.0.0.1')
    await once(this.#server, 'listening')
    this.port = (this.#server.address() as AddressInfo).port
    return this
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}/herald`
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.arrived++
    this.#open.add(res)
    res.on('close', () => this.#open.delete(res))
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    let verified = true
    try {
      this.#verifier.verify(raw, req.headers as Record<string, string>)
    } catch {
      verified = false
    }
    const request = { webhookId: String(req.headers['webhook-id']), body: JSON.parse(raw) as BackendWebhookBody, verified, at: Date.now() }
    const status = await this.respond(request, res)
    this.received.push({ ...request, status })
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' })
    res.end('{}')
  }

  /** Requests answered 2xx, in arrival order. */
  get delivered (): ReceivedWebhook[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300)
  }

  async close (): Promise<void> {
    for (const res of this.#open) res.destroy()
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
  }
}

export async function startReceiver (t: { teardown (fn: () => unknown): void }): Promise<BackendReceiver> {
  const receiver = await new BackendReceiver().listen()
  t.teardown(() => receiver.close())
  return receiver
}

/** Order versions each entity reached the receiver with, in arrival order, 2xx only. */
export function versionsByEntity (received: readonly ReceivedWebhook[]): Map<string, number[]> {
  const versions = new Map<string, number[]>()
  for (const { body } of received) {
    const id = body.type === 'order.updated' ? body.data.orderId : body.data.registrationId
    versions.set(id, [...(versions.get(id) ?? []), body.data.version])
  }
  return versions
}
