// A back-end's calls to Herald's ingest: the old designs' publisher calls, signed per Standard Webhooks,
// retried with the same webhook-id so a retry is deduplicated by the ingest, never applied twice.
import type {
  Details, FinalStatus, OrderUpsertBody, OrderUpsertResponse, ProcessLogEntry, RegistrationEventBody,
  RegistrationEventResponse, StageStatus
} from '@herald/contracts'
import { HeraldProducerError, ProducerErrorCodes, isErrorBody } from './errors.js'
import { DEFAULT_RETRY_POLICY, backoffDelayMs, isRetryableStatus, retryAfterMs, type RetryPolicy } from './retry.js'
import { newWebhookId, signStandardWebhook } from './signing.js'

export interface ProducerOptions extends Partial<RetryPolicy> {
  /** The ingest's base URL, e.g. `https://herald-ingest.internal`. */
  url: string
  /** A `whsec_…` secret, one of the ingest's INTERNAL_WEBHOOK_SECRETS. */
  secret: string
  /** Per attempt; a timed-out attempt is retried like a network error. Default 10 s. */
  timeoutMs?: number
  fetch?: typeof globalThis.fetch
  random?: () => number
}

/** Registration ids were numbers in the old design: both are accepted and sent as strings. */
export type RegistrationId = string | number

/** A process log entry as the old design kept it: the timestamp may be a Date or epoch milliseconds. */
export type ProcessStage = Omit<ProcessLogEntry, 'timestamp'> & { timestamp: string | number | Date }

export interface CallOptions {
  /** Your own idempotency key for this call (e.g. kept across a process restart); a fresh one otherwise. */
  webhookId?: string
}

export interface Producer {
  /** One stage of a registration started, completed or failed. Without a message subscribers see `"<status>: <stage>"`. */
  publishStageUpdate (registrationId: RegistrationId, stage: string, status: StageStatus, message?: string, details?: Details): Promise<RegistrationEventResponse>
  /** The registration's verdict; terminal: the same verdict again is a duplicate, another one a 409. */
  publishFinalStatus (registrationId: RegistrationId, status: FinalStatus, message: string, details?: Details, processLog?: readonly ProcessStage[]): Promise<RegistrationEventResponse>
  /** Registers or updates an order awaiting payment; answers its snapshot and the subscribe token for the page. */
  upsertOrder (orderId: string, order: OrderUpsertBody, options?: CallOptions): Promise<OrderUpsertResponse>
  /** The body of `POST /v1/registrations/:id/events` as is. */
  registrationEvent (registrationId: RegistrationId, event: RegistrationEventBody, options?: CallOptions): Promise<RegistrationEventResponse>
}

const DEFAULT_TIMEOUT_MS = 10_000

function isoTimestamp (value: string | number | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString()
}

export function createProducer (options: ProducerOptions): Producer {
  const base = options.url.replace(/\/+$/, '')
  const policy: RetryPolicy = {
    retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
    initialDelayMs: options.initialDelayMs ?? DEFAULT_RETRY_POLICY.initialDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULT_RETRY_POLICY.maxRetryAfterMs
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const fetchImpl = options.fetch ?? globalThis.fetch
  const random = options.random ?? Math.random

  async function send<T> (method: 'PUT' | 'POST', path: string, body: unknown, webhookId: string = newWebhookId()): Promise<T> {
    const payload = JSON.stringify(body)
    const url = `${base}${path}`
    for (let attempt = 1; ; attempt++) {
      const last = attempt > policy.retries
      const fail = (code: string, message: string, extra: { status?: number, details?: unknown, cause?: unknown } = {}) =>
        new HeraldProducerError(code, `${method} ${path}: ${message}`, { ...extra, webhookId, attempts: attempt })
      let response: Response
      try {
        // Signed again per attempt: a fresh timestamp keeps a late retry inside the ingest's tolerance.
        response = await fetchImpl(url, {
          method,
          headers: { 'content-type': 'application/json', ...signStandardWebhook(options.secret, payload, { id: webhookId }) },
          body: payload,
          signal: AbortSignal.timeout(timeoutMs)
        })
      } catch (err) {
        const timedOut = (err as Error)?.name === 'TimeoutError'
        if (last) {
          throw timedOut
            ? fail(ProducerErrorCodes.TIMEOUT, `no answer within ${timeoutMs} ms`, { cause: err })
            : fail(ProducerErrorCodes.NETWORK, `the ingest could not be reached (${(err as Error)?.message})`, { cause: err })
        }
        await sleep(backoffDelayMs(attempt, policy, random))
        continue
      }

      if (response.ok) {
        try {
          return await response.json() as T
        } catch (err) {
          throw fail(ProducerErrorCodes.BAD_RESPONSE, `HTTP ${response.status} with a body that is not JSON`, { status: response.status, cause: err })
        }
      }
      const answer: unknown = await response.json().catch(() => undefined)
      const error = isErrorBody(answer)
        ? fail(answer.code, answer.error, { status: response.status, details: answer.details })
        : fail(ProducerErrorCodes.BAD_RESPONSE, `HTTP ${response.status} without a Herald error body`, { status: response.status })
      if (!isRetryableStatus(response.status) || last) throw error
      const asked = retryAfterMs(response.headers.get('retry-after'), Date.now())
      if (asked !== undefined && asked > policy.maxRetryAfterMs) {
        throw fail(ProducerErrorCodes.RETRY_AFTER_TOO_LONG, `HTTP ${response.status} asked to retry after ${asked} ms, more than ${policy.maxRetryAfterMs} ms`, { status: response.status, cause: error })
      }
      await sleep(asked ?? backoffDelayMs(attempt, policy, random))
    }
  }

  const registrationEvent = (registrationId: RegistrationId, event: RegistrationEventBody, callOptions: CallOptions = {}) =>
    send<RegistrationEventResponse>('POST', `/v1/registrations/${encodeURIComponent(String(registrationId))}/events`, event, callOptions.webhookId)

  return {
    registrationEvent,

    publishStageUpdate (registrationId, stage, status, message, details) {
      const event: RegistrationEventBody = { type: 'stage', stage, status }
      if (message !== undefined && message !== '') event.message = message
      if (details !== undefined) event.details = details
      return registrationEvent(registrationId, event)
    },

    publishFinalStatus (registrationId, status, message, details, processLog) {
      const event: RegistrationEventBody = { type: 'final', status, message }
      if (details !== undefined) event.details = details
      if (processLog !== undefined) event.processLog = processLog.map((entry) => ({ ...entry, timestamp: isoTimestamp(entry.timestamp) }))
      return registrationEvent(registrationId, event)
    },

    upsertOrder (orderId, order, callOptions = {}) {
      return send<OrderUpsertResponse>('PUT', `/v1/orders/${encodeURIComponent(orderId)}`, order, callOptions.webhookId)
    }
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
