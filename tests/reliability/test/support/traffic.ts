// Traffic for the tests: signed producer calls that retry with the same webhook-id, provider callbacks,
// SSE followers that resume with Last-Event-ID on whichever gateway answers, and long-poll waiters.
import { setTimeout as sleep } from 'node:timers/promises'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { DarajaStkCallback, OrderUpsertBody, RegistrationEventBody } from '@herald/contracts'
import { TEST_SECRETS } from '@herald/service-kit/testing'
import { signStandardWebhook } from '@herald/producer'

export const INTERNAL_SECRET = TEST_SECRETS.INTERNAL_WEBHOOK_SECRETS.split(',')[0]!

export interface Answer { status: number, body: any }

/** One HTTP call; status 0 when the server could not be reached or did not answer in time. */
export async function call (url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Answer> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 30_000) })
    const text = await res.text()
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    return { status: res.status, body }
  } catch {
    return { status: 0, body: undefined }
  }
}

/** A signed internal call, exactly as a producer sends it; the same `id` makes a retry a replay. */
export function signedCall (baseUrl: string, method: string, path: string, body: unknown, options: { id?: string, timestamp?: Date, secret?: string } = {}): Promise<Answer> {
  const payload = JSON.stringify(body)
  const headers = { 'content-type': 'application/json', ...signStandardWebhook(options.secret ?? INTERNAL_SECRET, payload, options) }
  return call(`${baseUrl}${path}`, { method, headers, body: payload })
}

/**
 * What a well-behaved producer does: retries (with the same webhook-id, and the same body) until the
 * ingest answers 2xx or a 4xx that a retry cannot change. Returns the final answer and the attempts.
 */
export async function deliver (baseUrls: () => string[], method: string, path: string, body: unknown, id: string, limitMs = 120_000): Promise<Answer & { attempts: number }> {
  const deadline = Date.now() + limitMs
  let attempts = 0
  for (;;) {
    const urls = baseUrls()
    const url = urls[attempts % Math.max(1, urls.length)]
    attempts++
    const answer = url === undefined ? { status: 0, body: undefined } : await signedCall(url, method, path, body, { id })
    if ((answer.status >= 200 && answer.status < 500) || Date.now() > deadline) return { ...answer, attempts }
    await sleep(Math.min(50 * attempts, 500))
  }
}

/** Provider callbacks are retried by the providers too, with the same body. */
export async function deliverCallback (baseUrls: () => string[], path: string, body: unknown, limitMs = 120_000): Promise<Answer & { attempts: number }> {
  const deadline = Date.now() + limitMs
  let attempts = 0
  for (;;) {
    const urls = baseUrls()
    const url = urls[attempts % Math.max(1, urls.length)]
    attempts++
    const answer = url === undefined
      ? { status: 0, body: undefined }
      : await call(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    if ((answer.status >= 200 && answer.status < 500) || Date.now() > deadline) return { ...answer, attempts }
    await sleep(Math.min(50 * attempts, 500))
  }
}

export function stageEvent (n: number): RegistrationEventBody {
  return { type: 'stage', stage: `step_${n}`, status: n % 3 === 0 ? 'failed' : 'completed', message: `step ${n}` }
}

export function finalEvent (): RegistrationEventBody {
  return { type: 'final', status: 'APPROVED', message: 'approved' }
}

export function orderBody (checkoutRequestId: string, overrides: Partial<OrderUpsertBody> = {}): OrderUpsertBody {
  return {
    orderNumber: `INV-${checkoutRequestId.slice(-8)}`,
    totalAmount: 1500,
    currency: 'KES',
    ticketCount: 2,
    customer: { email: 'jane.doe@example.com', firstName: 'Jane', lastName: 'Doe', phone: '254709099876' },
    provider: 'mpesa',
    references: { checkoutRequestId },
    ...overrides
  }
}

export function darajaCallback (checkoutRequestId: string, resultCode: number, amount = 1500): DarajaStkCallback {
  return {
    Body: {
      stkCallback: {
        MerchantRequestID: `mr-${checkoutRequestId}`,
        CheckoutRequestID: checkoutRequestId,
        ResultCode: resultCode,
        ResultDesc: resultCode === 0 ? 'The service request is processed successfully.' : 'Request cancelled by user',
        ...(resultCode === 0
          ? { CallbackMetadata: { Item: [{ Name: 'Amount', Value: amount }, { Name: 'MpesaReceiptNumber', Value: `R${checkoutRequestId.slice(-9).toUpperCase()}` }] } }
          : {})
      }
    }
  }
}

export const MPESA_PATH = `/webhooks/mpesa/${TEST_SECRETS.MPESA_CALLBACK_TOKEN}`

export interface SseUpdate { id: string, version: number, data: any, receivedAt: number }

/**
 * Follows one SSE feed the way a browser's EventSource does: on any end or error it reconnects (to the
 * next gateway in the list) with the last id it saw. Records every message, so a test can check order,
 * gaps and duplicates; `distinct` keeps only the first delivery of each id.
 */
export class SseFollower {
  readonly #gateways: () => string[]
  readonly #path: string
  readonly #token: string | undefined
  readonly updates: SseUpdate[] = []
  readonly resets: any[] = []
  readonly closings: any[] = []
  connects = 0
  failedConnects = 0
  lastEventId: string | undefined
  #controller: AbortController | null = null
  #stopped = false
  #loop: Promise<void> | null = null
  #connected = false

  constructor (gateways: () => string[], path: string, token?: string) {
    this.#gateways = gateways
    this.#path = path
    this.#token = token
  }

  get connected (): boolean {
    return this.#connected
  }

  start (): this {
    this.#loop = this.#run()
    return this
  }

  /** Each id once, in arrival order: what a client that drops duplicates by id shows. */
  get distinct (): SseUpdate[] {
    const seen = new Set<string>()
    return this.updates.filter((u) => !seen.has(u.id) && seen.add(u.id) !== undefined)
  }

  get duplicates (): number {
    return this.updates.length - this.distinct.length
  }

  /** Updates that repeat an id with another payload than it last came with: one id, two different events. */
  get conflicting (): number {
    const payloads = new Map<string, string>()
    let conflicting = 0
    for (const update of this.updates) {
      const text = JSON.stringify(update.data)
      if (payloads.has(update.id) && payloads.get(update.id) !== text) conflicting++
      payloads.set(update.id, text)
    }
    return conflicting
  }

  /** The highest version the client knows: from updates, or from the snapshot of a reset. */
  get version (): number {
    const fromResets = this.resets.reduce((max, r) => Math.max(max, Number(r.data?.version ?? 0)), 0)
    return this.updates.reduce((max, u) => Math.max(max, u.version), fromResets)
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#controller?.abort()
    await this.#loop
  }

  async #run (): Promise<void> {
    let attempt = 0
    while (!this.#stopped) {
      const gateways = this.#gateways()
      const base = gateways[attempt++ % Math.max(1, gateways.length)]
      if (base !== undefined) await this.#connect(base).catch(() => {})
      this.#connected = false
      if (!this.#stopped) await sleep(100)
    }
  }

  async #connect (base: string): Promise<void> {
    const controller = new AbortController()
    this.#controller = controller
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId
    const res = await fetch(`${base}${this.#path}`, { headers, signal: controller.signal })
    if (res.status !== 200 || res.body === null) {
      this.failedConnects++
      await res.body?.cancel()
      return
    }
    this.connects++
    this.#connected = true
    const parser = createParser({ onEvent: (message) => this.#onMessage(message) })
    const decoder = new TextDecoder()
    // A silent stream (no ping for a long while) is a dead one: reconnect, as EventSource would not, but a careful client does.
    let idle: NodeJS.Timeout | undefined
    const arm = () => { clearTimeout(idle); idle = setTimeout(() => controller.abort(), 15_000) }
    arm()
    try {
      for await (const chunk of res.body) {
        arm()
        parser.feed(decoder.decode(chunk, { stream: true }))
      }
    } finally {
      clearTimeout(idle)
    }
  }

  #onMessage (message: EventSourceMessage): void {
    let data: any
    try { data = JSON.parse(message.data) } catch { data = message.data }
    if (message.id !== undefined) this.lastEventId = message.id
    if (data?.type === 'update') {
      const version = Number(String(message.id).split(':').pop())
      this.updates.push({ id: message.id ?? '', version, data: data.data, receivedAt: Date.now() })
    } else if (data?.type === 'reset') {
      this.resets.push(data)
      // A reset carries the snapshot: resume from its version, as the SDK does.
      if (data.data?.version !== undefined) this.lastEventId = String(data.data.version)
    } else if (data?.type === 'closing') {
      this.closings.push(data)
    }
  }
}

/**
 * Long-polls one order until its payment is final, as a checkout page does; follows whichever gateway
 * answers. Returns every answer's version in order, and when the final one arrived.
 */
export async function waitForFinal (gateways: () => string[], orderId: string, token: string, limitMs = 180_000): Promise<{ versions: number[], final: any, requests: number, finalAt: number }> {
  const deadline = Date.now() + limitMs
  const versions: number[] = []
  let since: number | undefined
  let requests = 0
  while (Date.now() < deadline) {
    const list = gateways()
    const base = list[requests % Math.max(1, list.length)]
    requests++
    if (base === undefined) { await sleep(100); continue }
    const query = since === undefined ? 'timeout=10000' : `timeout=10000&since=${since}`
    const answer = await call(`${base}/api/orders/${encodeURIComponent(orderId)}/wait?${query}`, { headers: { authorization: `Bearer ${token}` }, timeoutMs: 20_000 })
    if (answer.status !== 200) { await sleep(100); continue }
    versions.push(answer.body.version)
    since = answer.body.version
    if (['completed', 'failed', 'cancelled'].includes(answer.body.paymentStatus)) return { versions, final: answer.body, requests, finalAt: Date.now() }
  }
  throw new Error(`order ${orderId} did not reach a final payment status within ${limitMs} ms (versions seen: ${versions.join(',')})`)
}

/** Opens an SSE stream, reads until `frames` messages (or `limitMs`) and closes it; the raw text and status. */
export async function readSse (url: string, headers: Record<string, string>, frames = 2, limitMs = 5000): Promise<{ status: number, contentType: string, body: string }> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), limitMs)
  let body = ''
  try {
    const res = await fetch(url, { headers, signal: controller.signal })
    const contentType = res.headers.get('content-type') ?? ''
    const reader = res.body!.getReader()
    try {
      while (body.split('\n\n').length <= frames) {
        const { value, done } = await reader.read()
        if (done) break
        body += Buffer.from(value).toString()
      }
    } catch {
      // Aborted at the limit: what arrived is what is checked.
    }
    controller.abort()
    return { status: res.status, contentType, body }
  } finally {
    clearTimeout(timer)
  }
}
