// The one error the client throws or reports, carrying the server's machine-readable code when there is one.
import type { ErrorBody } from './wire.js'

/** Codes the client adds to the server's `HERALD_ERR_…` codes, for failures that never reached an answer. */
export const ClientErrorCodes = {
  NETWORK: 'HERALD_CLIENT_NETWORK',
  TIMEOUT: 'HERALD_CLIENT_TIMEOUT',
  BAD_RESPONSE: 'HERALD_CLIENT_BAD_RESPONSE',
  UNREACHABLE: 'HERALD_CLIENT_UNREACHABLE'
} as const

export interface HeraldClientErrorOptions {
  status?: number
  details?: unknown
  cause?: unknown
}

export class HeraldClientError extends Error {
  override name = 'HeraldClientError'
  /** `HERALD_ERR_…` from the server's error body, or one of `ClientErrorCodes`. */
  readonly code: string
  /** HTTP status when the server answered. */
  readonly status: number | undefined
  readonly details: unknown

  constructor (code: string, message: string, options: HeraldClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = options.status
    this.details = options.details
  }

  /**
   * A 4xx says the request itself is wrong (bad token, unknown order, bad parameter): asking again cannot
   * help. 408 and 429 are the exceptions that do go away.
   */
  get retryable (): boolean {
    if (this.status === undefined) return true
    if (this.status === 408 || this.status === 429) return true
    return this.status >= 500
  }
}

function isErrorBody (value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const body = value as Record<string, unknown>
  return body.success === false && typeof body.error === 'string' && typeof body.code === 'string'
}

/** Builds the error for a non-2xx answer, from the Herald error body when the server sent one. */
export async function errorFromResponse (response: Response): Promise<HeraldClientError> {
  let body: unknown
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  if (isErrorBody(body)) {
    return new HeraldClientError(body.code, body.error, { status: response.status, details: body.details })
  }
  return new HeraldClientError(ClientErrorCodes.BAD_RESPONSE, `HTTP ${response.status} without a Herald error body`, { status: response.status })
}
