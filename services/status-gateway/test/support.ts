// Test fixtures: events as the ingest publishes them, Postgres rows, tokens, and an SSE reader.
import http from 'node:http'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import type { OrderEvent, OrderSnapshot, PaymentStatus, RegistrationEvent } from '@herald/contracts'
import { signSubscribeToken, type SubscribeScope } from '@herald/contracts/subscribe-token'
import { createDatabase, orders } from '@herald/db'
import { EventPublisher, StreamLayout, createRedisClient, type PublishOptions, type RedisClient } from '@herald/streams'
import { TEST_DATABASE_URL, TEST_REDIS_URL, TEST_SECRETS } from '@herald/service-kit/testing'

interface Teardown { teardown (fn: () => unknown): void }

let eventIds = 1

export function orderSnapshot (orderId: string, version: number, paymentStatus: PaymentStatus = 'pending'): OrderSnapshot {
  const now = new Date().toISOString()
  const status = paymentStatus === 'completed' ? 'paid' : paymentStatus === 'cancelled' ? 'cancelled' : paymentStatus === 'failed' ? 'failed' : 'pending'
  return {
    orderId,
    orderNumber: `ORD-${orderId}`,
    paymentStatus,
    status,
    totalAmount: 1500,
    currency: 'KES',
    ticketCount: 2,
    customer: { email: 'jane@example.com', firstName: 'Jane', lastName: 'Wanjiru' },
    payment: {
      provider: 'mpesa',
      outcome: paymentStatus === 'completed' ? 'completed' : paymentStatus === 'cancelled' ? 'cancelled' : null,
      resultCode: paymentStatus === 'completed' ? 0 : null,
      resultDesc: null,
      receipt: paymentStatus === 'completed' ? 'QKX123' : null,
      checkoutRequestId: `ws_CO_${orderId}`
    },
    needsReview: false,
    createdAt: now,
    updatedAt: now,
    version
  }
}

export function orderEvent (orderId: string, version: number, paymentStatus: PaymentStatus = 'pending'): OrderEvent {
  return {
    eventId: String(eventIds++),
    entityType: 'order',
    entityId: orderId,
    version,
    occurredAt: new Date().toISOString(),
    order: orderSnapshot(orderId, version, paymentStatus)
  }
}

export function registrationEvent (registrationId: string, version: number, extra: Record<string, unknown> = {}): RegistrationEvent {
  const now = new Date().toISOString()
  const stage = `stage_${version}`
  return {
    eventId: String(eventIds++),
    entityType: 'registration',
    entityId: registrationId,
    version,
    occurredAt: now,
    update: { registrationId, status: 'completed', stage, message: `step ${version}`, timestamp: now, ...extra },
    registration: { registrationId, status: 'PROCESSING', stage, message: `step ${version}`, processLog: [], createdAt: now, updatedAt: now, version }
  }
}

/** An EventPublisher on its own connection, exactly what the ingest's relay uses. */
export function usePublisher (t: Teardown, prefix: string, options: Partial<PublishOptions> & { url?: string, shards?: number } = {}): { publisher: EventPublisher, redis: RedisClient, layout: StreamLayout } {
  const redis = createRedisClient({ url: options.url ?? TEST_REDIS_URL })
  redis.on('error', () => {}) // tests stop Redis on purpose
  t.teardown(() => redis.disconnect())
  const layout = new StreamLayout({ prefix, shards: options.shards ?? 1 })
  const publisher = new EventPublisher(redis, layout, { retentionMs: 3600_000, ...options })
  return { publisher, redis, layout }
}

/** Writes an order row as the ingest would (the gateway only reads it). */
export async function insertOrder (t: Teardown, schema: string, snapshot: OrderSnapshot): Promise<(changes: Partial<typeof orders.$inferInsert>) => Promise<void>> {
  const handle = createDatabase({ url: TEST_DATABASE_URL, schema, max: 2 })
  t.teardown(() => handle.close())
  await handle.db.insert(orders).values({
    id: snapshot.orderId,
    orderNumber: snapshot.orderNumber,
    totalAmount: String(snapshot.totalAmount),
    currency: snapshot.currency,
    ticketCount: snapshot.ticketCount,
    customerEmail: snapshot.customer!.email,
    customerFirstName: snapshot.customer!.firstName,
    customerLastName: snapshot.customer!.lastName,
    provider: 'mpesa',
    checkoutRequestId: snapshot.payment.checkoutRequestId,
    paymentStatus: snapshot.paymentStatus,
    status: snapshot.status,
    version: snapshot.version
  })
  const { eq } = await import('drizzle-orm')
  return async (changes) => {
    await handle.db.update(orders).set(changes).where(eq(orders.id, snapshot.orderId))
  }
}

export function tokenFor (scope: SubscribeScope, id: string, ttlMs = 600_000): string {
  return signSubscribeToken(TEST_SECRETS.SUBSCRIBE_TOKEN_SECRET, { scope, id, exp: Date.now() + ttlMs })
}

export const ADMIN = TEST_SECRETS.ADMIN_TOKEN

export async function waitUntil (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await delay(20)
  }
}

export interface SseMessage {
  id?: string
  retry?: number
  data: { type: string, [key: string]: unknown }
}

/** A minimal EventSource over node:http that records every message. */
export class SseReader {
  readonly messages: SseMessage[] = []
  status = 0
  headers: http.IncomingHttpHeaders = {}
  ended = false
  #request: http.ClientRequest
  #buffer = ''
  readonly opened: Promise<void>

  constructor (url: string, headers: Record<string, string> = {}) {
    this.#request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } })
    this.opened = new Promise((resolve, reject) => {
      this.#request.on('error', (err) => { this.ended = true; reject(err) })
      this.#request.on('response', (res) => {
        this.status = res.statusCode ?? 0
        this.headers = res.headers
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => this.#parse(chunk))
        res.on('end', () => { this.ended = true })
        res.on('close', () => { this.ended = true })
        resolve()
      })
    })
  }

  #parse (chunk: string): void {
    this.#buffer += chunk
    let end
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      const block = this.#buffer.slice(0, end)
      this.#buffer = this.#buffer.slice(end + 2)
      const message: Partial<SseMessage> = {}
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) message.id = line.slice(4)
        else if (line.startsWith('retry: ')) message.retry = Number(line.slice(7))
        else if (line.startsWith('data: ')) message.data = JSON.parse(line.slice(6))
      }
      if (message.data !== undefined) this.messages.push(message as SseMessage)
    }
  }

  ofType (type: string): SseMessage[] {
    return this.messages.filter((m) => m.data.type === type)
  }

  async waitFor (what: string, condition: (reader: SseReader) => boolean, timeoutMs = 20_000): Promise<void> {
    await waitUntil(() => condition(this), what, timeoutMs)
  }

  close (): void {
    this.#request.destroy()
  }
}

/** GET with undici's fetch and a JSON body. */
export async function getJson (url: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { headers, signal })
  return { status: res.status, body: await res.json() }
}

/** A throw-away redis-server on its own port, without persistence: a restart loses everything. */
export async function startRedis (port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  await waitUntil(async () => {
    const probe = createServer()
    try {
      probe.listen(port, '127.0.0.1')
      await once(probe, 'listening')
      probe.close()
      return false
    } catch {
      return true
    }
  }, 'redis-server to listen')
  return child
}

export async function stopRedis (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  child.kill('SIGKILL')
  await once(child, 'exit')
}
