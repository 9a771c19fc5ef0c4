// Why a request was refused, as one word for the `reason` label of the refused-requests counter.
import { ErrorCodes } from '@herald/contracts'

/**
 * The reasons Herald counts. Most follow from the error code; the ones a code cannot tell apart
 * (a bad path token, a bad signature and a stale timestamp are all 401) are named where they are thrown,
 * with `refusedFor`.
 */
export type RefusalReason =
  | 'bad_token' | 'bad_signature' | 'stale_timestamp' | 'ip_not_allowed' | 'forbidden'
  | 'invalid_body' | 'invalid_request' | 'too_large' | 'unsupported_media_type'
  | 'not_found' | 'no_route' | 'conflict' | 'cursor_expired' | 'too_many_holds'
  | 'unavailable' | 'internal'

const reasonByCode: Record<string, RefusalReason> = {
  [ErrorCodes.BAD_JSON]: 'invalid_body',
  [ErrorCodes.VALIDATION]: 'invalid_request',
  [ErrorCodes.UNAUTHORIZED]: 'bad_token',
  [ErrorCodes.FORBIDDEN]: 'forbidden',
  [ErrorCodes.TOO_MANY_HOLDS]: 'too_many_holds',
  [ErrorCodes.NOT_FOUND]: 'not_found',
  [ErrorCodes.ROUTE_NOT_FOUND]: 'no_route',
  [ErrorCodes.BODY_TOO_LARGE]: 'too_large',
  [ErrorCodes.UNSUPPORTED_MEDIA_TYPE]: 'unsupported_media_type',
  [ErrorCodes.CONFLICT]: 'conflict',
  [ErrorCodes.OUTCOME_CONFLICT]: 'conflict',
  [ErrorCodes.CURSOR_EXPIRED]: 'cursor_expired',
  [ErrorCodes.UNAVAILABLE]: 'unavailable',
  [ErrorCodes.INTERNAL]: 'internal'
}

const REASON = Symbol('herald.refusalReason')

/** Marks an error with the reason it is counted under, when its code alone would say less. */
export function refusedFor<E extends Error> (error: E, reason: RefusalReason): E {
  return Object.assign(error, { [REASON]: reason })
}

/**
 * The reason for an answered error: the one it was marked with, else its code's. A validation failure of
 * the body counts as `invalid_body`, of the path or query as `invalid_request`.
 */
export function refusalReasonOf (error: unknown, code: string, bodyInvalid: boolean): RefusalReason {
  const marked = (error as { [REASON]?: RefusalReason } | null)?.[REASON]
  if (marked !== undefined) return marked
  if (code === ErrorCodes.VALIDATION && bodyInvalid) return 'invalid_body'
  return reasonByCode[code] ?? 'invalid_request'
}
