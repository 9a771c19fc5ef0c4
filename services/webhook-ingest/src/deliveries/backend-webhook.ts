// Outbound back-end webhooks: the body built from an outbox event, signed per Standard Webhooks, sent.
import type { KeyObject } from 'node:crypto'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api'
import { signWebhook, webhookSecretKey } from '@herald/contracts/standard-webhooks'
import type { BackendEventType, BackendWebhookBody, StreamEvent } from '@herald/contracts'
import { injectTraceContext, traceContextOf } from '@herald/service-kit'
import { parseRetryAfter, type AttemptResult } from './schedule.js'

export function backendEventTypeOf (event: Pick<StreamEvent, 'entityType'>): BackendEventType {
  return event.entityType === 'order' ? 'order.updated' : 'registration.updated'
}

/** The body a back-end receives (and the pull feed lists) for one committed event. */
export function backendBodyOf (event: StreamEvent): BackendWebhookBody {
  return event.entityType === 'order'
    ? { type: 'order.updated', timestamp: event.occurredAt, data: event.order }
    : { type: 'registration.updated', timestamp: event.occurredAt, data: event.registration }
}

/** Stable per event (and so per event and endpoint): a receiver drops a retry it has already taken. */
export const webhookIdOf = (eventId: string): string => `evt_${eventId}`

/** The receiver's answer is not read past this: a slow or huge body must not hold the attempt. */
const MAX_ERROR_TEXT = 200

/**
 * Signs with every configured secret (Standard Webhooks allows several space-separated signatures), so
 * a receiver can rotate: add the new secret to Herald, move the receiver to it, remove the old one. The
 * `standardwebhooks` package is the reference implementation the ingest already verifies with.
 */
export class BackendWebhookSender {
  readonly #keys: KeyObject[]
  readonly #timeoutMs: number
  readonly #tracer: Tracer | undefined

  /** `tracer` (tracing on): each attempt is a client span, in the trace of the request that caused the event. */
  constructor (secrets: readonly string[], timeoutMs = 15_000, tracer?: Tracer) {
    if (secrets.length === 0) throw new Error('BACKEND_WEBHOOK_SECRET: at least one whsec_ secret is required with BACKEND_WEBHOOK_URLS')
    this.#keys = secrets.map((secret) => webhookSecretKey(secret))
    this.#timeoutMs = timeoutMs
    this.#tracer = tracer
  }

  headersFor (webhookId: string, body: string, at = new Date()): Record<string, string> {
    const timestamp = Math.floor(at.getTime() / 1000)
    return {
      'content-type': 'application/json',
      'user-agent': 'Herald-Webhooks/1',
      'webhook-id': webhookId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': this.#keys.map((key) => signWebhook(key, webhookId, timestamp, body)).join(' ')
    }
  }

  /**
   * One attempt (`attempt` counts from 1): 2xx is delivered; anything else, a network error or the
   * timeout is a failure. Traced, the receiver gets the attempt's `traceparent`: its own spans join the
   * payment's trace.
   */
  async send (url: string, eventId: string, event: StreamEvent, attempt = 1): Promise<AttemptResult> {
    const body = JSON.stringify(backendBodyOf(event))
    const headers = this.headersFor(webhookIdOf(eventId), body)
    const span = this.#tracer === undefined ? undefined : attemptSpan(this.#tracer, url, eventId, event, attempt, headers)
    const result = await this.#post(url, headers, body)
    if (span !== undefined) endAttemptSpan(span, result)
    return result
  }

  async #post (url: string, headers: Record<string, string>, body: string): Promise<AttemptResult> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs)
      })
      await response.body?.cancel().catch(() => {})
      if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status }
      return { ok: false, status: response.status, error: `HTTP ${response.status}`, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) }
    } catch (err) {
      const error = (err as Error).name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : describeNetworkError(err)
      return { ok: false, status: null, error, retryAfterMs: null }
    }
  }
}

function describeNetworkError (err: unknown): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  const text = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err)
  return text.slice(0, MAX_ERROR_TEXT)
}

/**
 * The client span of one attempt. A child of the event's cause, not a new trace linked to it: the
 * receiver continues the `traceparent` it is sent, so its work shows in the payment's own trace. The
 * URL's path and query are left out: a receiver's URL may hold its secret.
 */
function attemptSpan (tracer: Tracer, url: string, eventId: string, event: StreamEvent, attempt: number, headers: Record<string, string>): Span {
  const target = new URL(url)
  const span = tracer.startSpan('herald.backend.deliver', {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': 'POST',
      'server.address': target.hostname,
      'server.port': Number(target.port === '' ? (target.protocol === 'https:' ? 443 : 80) : target.port),
      'herald.event.id': eventId,
      'herald.entity.type': event.entityType,
      'herald.entity.id': event.entityId,
      'herald.event.version': event.version,
      'herald.delivery.attempt': attempt,
      ...(event.requestId === undefined ? {} : { 'herald.event.request_id': event.requestId })
    }
  }, traceContextOf(event))
  injectTraceContext(trace.setSpan(ROOT_CONTEXT, span), headers)
  return span
}

function endAttemptSpan (span: Span, result: AttemptResult): void {
  if (result.status !== null) span.setAttribute('http.response.status_code', result.status)
  if (!result.ok) {
    span.setAttribute('error.type', result.status === null ? 'network' : String(result.status))
    span.setStatus({ code: SpanStatusCode.ERROR, message: result.error })
  }
  span.end()
}
