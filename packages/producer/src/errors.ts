// The one error the producer throws, carrying Herald's machine-readable `code` when the ingest answered.
import type { ErrorBody } from '@herald/contracts'

/** Codes the producer adds to the ingest's `HERALD_ERR_…` codes, for calls that never got an answer. */
export const ProducerErrorCodes = {
  NETWORK: 'HERALD_PRODUCER_NETWORK',
  TIMEOUT: 'HERALD_PRODUCER_TIMEOUT',
  BAD_RESPONSE: 'HERALD_PRODUCER_BAD_RESPONSE',
  RETRY_AFTER_TOO_LONG: 'HERALD_PRODUCER_RETRY_AFTER_TOO_LONG'
} as const

export interface HeraldProducerErrorOptions {
  status?: number
  details?: unknown
  webhookId: string
  attempts: number
  cause?: unknown
}

export class HeraldProducerError extends Error {
  override name = 'HeraldProducerError'
  /** `HERALD_ERR_…` from the ingest's error body (e.g. `HERALD_ERR_VALIDATION`), or one of `ProducerErrorCodes`. */
  readonly code: string
  /** HTTP status when the ingest answered. */
  readonly status: number | undefined
  readonly details: unknown
  /** The id every attempt carried: sending it again later is still applied at most once. */
  readonly webhookId: string
  readonly attempts: number

  constructor (code: string, message: string, options: HeraldProducerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = options.status
    this.details = options.details
    this.webhookId = options.webhookId
    this.attempts = options.attempts
  }
}

export function isErrorBody (value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const body = value as Record<string, unknown>
  return body.success === false && typeof body.error === 'string' && typeof body.code === 'string'
}
