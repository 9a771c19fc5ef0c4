// What every ingest route checks before its handler: raw JSON body, path token, signature, body shape.
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import type { TSchema } from 'typebox'
import type { CompiledValidator } from '@herald/contracts'
import { firstErrorText } from '@herald/contracts'
import { BadJsonError, UnauthorizedError, ValidationError, refusedFor, withDetails } from '@herald/service-kit'
import { pathTokenMatches } from '../auth/path-token.js'
import type { StandardWebhookVerifier } from '../auth/standard-webhooks.js'

/** Request bodies above this are refused with 413 before they are parsed. */
export const INGEST_BODY_LIMIT = 64 * 1024

/** No provider or producer body nests this deep; deeper ones would overflow serialisers further on. */
export const MAX_JSON_DEPTH = 32

/** A UTF-16 surrogate without its pair (`"\ud800"` in JSON): in `u` mode a well-formed pair is one code point. */
const LONE_SURROGATE = /\p{Cs}/u

/** Why `text` cannot be stored in Postgres text or jsonb, or null. */
function unstorableText (text: string): string | null {
  if (text.includes('\u0000')) return 'a NUL character'
  if (LONE_SURROGATE.test(text)) return 'an unpaired UTF-16 surrogate'
  return null
}

/**
 * Why a parsed body cannot be stored, or null: nesting past MAX_JSON_DEPTH, or a NUL character or an
 * unpaired surrogate, which Postgres refuses in text and jsonb (a 500 on every retry otherwise).
 * Iterative, so a hostile body cannot overflow the stack here either.
 */
export function unstorableJson (value: unknown): string | null {
  const stack: Array<{ value: unknown, depth: number, path: string }> = [{ value, depth: 0, path: '' }]
  while (stack.length > 0) {
    const item = stack.pop()!
    if (typeof item.value === 'string') {
      const problem = unstorableText(item.value)
      if (problem !== null) return `body${item.path.slice(0, 200)} contains ${problem}`
      continue
    }
    if (item.value === null || typeof item.value !== 'object') continue
    if (item.depth >= MAX_JSON_DEPTH) return `body${item.path.slice(0, 200)} is nested deeper than ${MAX_JSON_DEPTH} levels`
    for (const [key, child] of Object.entries(item.value)) {
      const problem = unstorableText(key)
      if (problem !== null) return `body${item.path.slice(0, 200)} has a key with ${problem}`
      stack.push({ value: child, depth: item.depth + 1, path: `${item.path}/${key}` })
    }
  }
  return null
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received: signatures are computed over these bytes. */
    rawBody?: string
    /** The verified Standard Webhooks `webhook-id` of an internal request. */
    webhookId?: string
  }
}

/**
 * Parses JSON in this scope while keeping the raw string for signature checks. Fastify's own parser
 * would discard it, and re-serializing a parsed body does not give back the signed bytes.
 */
export function useRawJsonBody (fastify: FastifyInstance): void {
  // JSON only: anything else (text/plain included) is a 415, not a string that fails validation.
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: INGEST_BODY_LIMIT }, (request, body, done) => {
    const raw = body as string
    request.rawBody = raw
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch (err) {
      done(new BadJsonError((err as Error).message), undefined)
      return
    }
    const problem = unstorableJson(parsed)
    if (problem !== null) done(refusedFor(new ValidationError(problem), 'invalid_body'), undefined)
    else done(null, parsed)
  })
}

/** onRequest guard: the `:token` path parameter must equal `expected` (constant time). */
export function requirePathToken (expected: string) {
  return async (request: FastifyRequest): Promise<void> => {
    const { token } = request.params as { token?: string }
    if (typeof token !== 'string' || !pathTokenMatches(expected, token)) throw new UnauthorizedError('Invalid callback token')
  }
}

/** preValidation guard: a valid Standard Webhooks signature over the raw body; records the webhook-id. */
export function requireStandardWebhook (verifier: StandardWebhookVerifier) {
  return async (request: FastifyRequest): Promise<void> => {
    const result = verifier.verify(request.rawBody ?? '', request.headers)
    if (!result.ok) throw refusedFor(new UnauthorizedError(`Invalid webhook signature: ${result.reason}`), result.stale === true ? 'stale_timestamp' : 'bad_signature')
    request.webhookId = result.webhookId
  }
}

/** Validates a body with one of the contracts' compiled validators; a 400 names the failing field. */
export function assertBody<T> (validator: CompiledValidator<T>, body: unknown): T {
  const result = validator.validate(body)
  if (result.ok) return result.value
  const fields = result.errors.map((e) => ({ field: `body${e.field}`, message: e.message }))
  throw withDetails(new ValidationError(`body${firstErrorText(result.errors).replace(/^body/, '')}`), { fields })
}

/** preValidation guard built on `assertBody`; pair it with `bodyCheckedByGuard` so the body is checked once. */
export function requireBody<T> (validator: CompiledValidator<T>) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    assertBody(validator, request.body)
  }
}

const bodyAlreadyChecked = () => true

/**
 * Validator compiler for a route whose preValidation guard (`requireBody`, `assertBody`) checks the body
 * against the route's body schema, or one shape of its union: Fastify's body check after the guard could
 * never fail, and compiled validation of the body is a visible part of a callback's CPU. Params,
 * querystring and headers still go to the scope's compiler. Only for routes with such a guard: the
 * handler's `request.body` is typed from the schema.
 */
export function bodyCheckedByGuard (fastify: FastifyInstance): FastifySchemaCompiler<TSchema> {
  const compile: FastifySchemaCompiler<TSchema> | undefined = fastify.validatorCompiler
  if (compile === undefined) throw new Error('bodyCheckedByGuard needs a validator compiler set on the instance')
  return (route) => route.httpPart === 'body' ? bodyAlreadyChecked : compile(route)
}

/**
 * onRequest/preValidation guard for back-end reads and admin calls: `Authorization: Bearer <ADMIN_TOKEN>`
 * (when one is configured), or a Standard Webhooks signature as the internal API uses (over the empty
 * body for a GET).
 */
export function requireAdminOrStandardWebhook (adminToken: string, verifier: StandardWebhookVerifier) {
  return async (request: FastifyRequest): Promise<void> => {
    const authorization = request.headers.authorization
    if (typeof authorization === 'string' && authorization.startsWith('Bearer ')) {
      if (adminToken !== '' && pathTokenMatches(adminToken, authorization.slice(7).trim())) return
      throw new UnauthorizedError('Invalid admin token')
    }
    const result = verifier.verify(request.rawBody ?? '', request.headers)
    if (!result.ok) throw refusedFor(new UnauthorizedError(`An admin token or a signed request is required: ${result.reason}`), result.stale === true ? 'stale_timestamp' : 'bad_signature')
  }
}
