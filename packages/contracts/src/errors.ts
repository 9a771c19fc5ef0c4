// The one error body every Herald endpoint answers with, and the codes it carries.
import Type, { type Static } from 'typebox'

export const ErrorCodes = {
  BAD_JSON: 'HERALD_ERR_BAD_JSON',
  VALIDATION: 'HERALD_ERR_VALIDATION',
  UNAUTHORIZED: 'HERALD_ERR_UNAUTHORIZED',
  FORBIDDEN: 'HERALD_ERR_FORBIDDEN',
  /** 429: the client address or token holds GATEWAY_MAX_HOLDS_PER_CLIENT long-polls and streams already; see `Retry-After`. */
  TOO_MANY_HOLDS: 'HERALD_ERR_TOO_MANY_HOLDS',
  /** 429: the client address sent more than GATEWAY_RATE_LIMIT_PER_MINUTE requests in a minute; see `Retry-After`. */
  RATE_LIMITED: 'HERALD_ERR_RATE_LIMITED',
  NOT_FOUND: 'HERALD_ERR_NOT_FOUND',
  ROUTE_NOT_FOUND: 'HERALD_ERR_ROUTE_NOT_FOUND',
  BODY_TOO_LARGE: 'HERALD_ERR_BODY_TOO_LARGE',
  /** 408: the request (headers and body) did not arrive within HTTP_REQUEST_TIMEOUT_MS; the connection is closed. */
  REQUEST_TIMEOUT: 'HERALD_ERR_REQUEST_TIMEOUT',
  UNSUPPORTED_MEDIA_TYPE: 'HERALD_ERR_UNSUPPORTED_MEDIA_TYPE',
  CONFLICT: 'HERALD_ERR_CONFLICT',
  /** A reported outcome contradicts the order's final state: recorded for review, not applied. */
  OUTCOME_CONFLICT: 'HERALD_ERR_OUTCOME_CONFLICT',
  /** A pull-feed cursor older than the events still kept. */
  CURSOR_EXPIRED: 'HERALD_ERR_CURSOR_EXPIRED',
  UNAVAILABLE: 'HERALD_ERR_UNAVAILABLE',
  /** 503: the process is past its event-loop or memory limits and sheds new work; see `Retry-After`. */
  OVERLOADED: 'HERALD_ERR_OVERLOADED',
  INTERNAL: 'HERALD_ERR_INTERNAL'
} as const
export type ErrorCode = typeof ErrorCodes[keyof typeof ErrorCodes]

export const ErrorBody = Type.Object({
  success: Type.Literal(false),
  error: Type.String(),
  code: Type.String({ pattern: '^HERALD_ERR_[A-Z_]+$' }),
  details: Type.Optional(Type.Unknown())
})
export type ErrorBody = Static<typeof ErrorBody>

export const HealthResponse = Type.Object({ status: Type.Literal('ok') })
export type HealthResponse = Static<typeof HealthResponse>

export const DependencyState = Type.Union([Type.Literal('ok'), Type.Literal('down')])

export const ReadyResponse = Type.Object({
  /** `degraded`: ready, with an optional dependency down (named in `checks`). */
  status: Type.Union([Type.Literal('ready'), Type.Literal('degraded'), Type.Literal('not_ready')]),
  shuttingDown: Type.Boolean(),
  checks: Type.Record(Type.String(), DependencyState)
})
export type ReadyResponse = Static<typeof ReadyResponse>
