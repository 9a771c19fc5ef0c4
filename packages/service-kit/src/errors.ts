// Herald's HTTP errors, declared once; every one is answered with the contracts' error body.
import createError from '@fastify/error'
import { ErrorCodes } from '@herald/contracts'

export const BadJsonError = createError(ErrorCodes.BAD_JSON, 'Request body is not valid JSON: %s', 400)
export const ValidationError = createError(ErrorCodes.VALIDATION, '%s', 400)
export const UnauthorizedError = createError(ErrorCodes.UNAUTHORIZED, '%s', 401)
export const ForbiddenError = createError(ErrorCodes.FORBIDDEN, '%s', 403)
export const TooManyHoldsError = createError(ErrorCodes.TOO_MANY_HOLDS, '%s', 429)
export const RateLimitedError = createError(ErrorCodes.RATE_LIMITED, '%s', 429)
export const NotFoundError = createError(ErrorCodes.NOT_FOUND, '%s', 404)
export const RouteNotFoundError = createError(ErrorCodes.ROUTE_NOT_FOUND, 'Route %s %s not found', 404)
export const BodyTooLargeError = createError(ErrorCodes.BODY_TOO_LARGE, 'Request body is larger than %s bytes', 413)
export const UnsupportedMediaTypeError = createError(ErrorCodes.UNSUPPORTED_MEDIA_TYPE, 'Unsupported Content-Type: %s', 415)
export const ConflictError = createError(ErrorCodes.CONFLICT, '%s', 409)
export const OutcomeConflictError = createError(ErrorCodes.OUTCOME_CONFLICT, '%s', 409)
export const CursorExpiredError = createError(ErrorCodes.CURSOR_EXPIRED, '%s', 410)
export const UnavailableError = createError(ErrorCodes.UNAVAILABLE, '%s', 503)
export const OverloadedError = createError(ErrorCodes.OVERLOADED, '%s', 503)

/** An error that carries a `details` payload into the error body (e.g. the failing fields). */
export function withDetails<E extends Error> (error: E, details: unknown): E & { details: unknown } {
  return Object.assign(error, { details })
}
