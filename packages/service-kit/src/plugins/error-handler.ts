// One error handler for the whole service: every error leaves as the contracts' error body.
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { ErrorCodes, type ErrorBody } from '@herald/contracts'
import { maskErrorForLog } from '../mask.js'
import { redactUrl } from '../logger.js'
import { refusalReasonOf, type RefusalReason } from '../refusals.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the answer is an error: what the refused-requests counter counts it under. */
    refusalReason: RefusalReason | null
  }
}

interface ValidationIssue { instancePath?: string, message?: string, params?: Record<string, unknown> }

function fieldOf (issue: ValidationIssue): string {
  let field = issue.instancePath ?? ''
  const missing = issue.params?.requiredProperties ?? issue.params?.missingProperty
  if (Array.isArray(missing) && missing.length > 0) field = `${field}/${String(missing[0])}`
  else if (typeof missing === 'string') field = `${field}/${missing}`
  return field
}

/** Maps Fastify's own errors (bad JSON, body too large …) onto Herald's codes. */
function toErrorBody (error: FastifyError & { details?: unknown }): { status: number, body: ErrorBody } {
  if (error.validation !== undefined) {
    const issues = error.validation as ValidationIssue[]
    const fields = issues.map((issue) => ({ field: `${error.validationContext ?? 'body'}${fieldOf(issue)}`, message: issue.message ?? 'is invalid' }))
    const first = fields[0]
    return {
      status: 400,
      body: { success: false, error: first ? `${first.field} ${first.message}` : 'Invalid request', code: ErrorCodes.VALIDATION, details: { fields } }
    }
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { success: false, error: `Request body is not valid JSON: ${error.message}`, code: ErrorCodes.BAD_JSON } }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { success: false, error: 'Request body is too large', code: ErrorCodes.BODY_TOO_LARGE } }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { success: false, error: error.message, code: ErrorCodes.UNSUPPORTED_MEDIA_TYPE } }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, body: { success: false, error: error.message, code: ErrorCodes.BAD_JSON } }
  }
  if (error instanceof SyntaxError) {
    return { status: 400, body: { success: false, error: `Request body is not valid JSON: ${error.message}`, code: ErrorCodes.BAD_JSON } }
  }
  const status = error.statusCode ?? 500
  if (status >= 500) {
    const code = status === 503 && error.code?.startsWith('HERALD_ERR_') ? error.code : ErrorCodes.INTERNAL
    const message = status === 503 ? error.message : 'Internal server error'
    return { status, body: { success: false, error: message, code } }
  }
  const code = error.code?.startsWith('HERALD_ERR_') ? error.code : ErrorCodes.VALIDATION
  const body: ErrorBody = { success: false, error: error.message, code }
  if (error.details !== undefined) body.details = error.details
  return { status, body }
}

export default fp(async (fastify) => {
  fastify.decorateRequest('refusalReason', null)
  fastify.setErrorHandler((error: FastifyError & { details?: unknown }, request, reply) => {
    const { status, body } = toErrorBody(error)
    request.refusalReason = refusalReasonOf(error, body.code, body.error.startsWith('body'))
    if (status >= 500) request.log.error({ err: maskErrorForLog(error) }, 'request failed')
    else request.log.info({ err: { code: body.code, message: body.error } }, 'request refused')
    return reply.code(status).type('application/json').send(body)
  })

  fastify.setNotFoundHandler((request, reply) => {
    request.refusalReason = 'no_route'
    const body: ErrorBody = { success: false, error: `Route ${request.method} ${redactUrl(request.url.split('?')[0]!)} not found`, code: ErrorCodes.ROUTE_NOT_FOUND }
    return reply.code(404).send(body)
  })
}, { name: 'herald-error-handler' })
