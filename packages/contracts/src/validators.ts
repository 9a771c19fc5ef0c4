// Compiled validators for the hot paths, with errors that name the failing field.
import type { TSchema, Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { DarajaStkCallback, PayHeroAfricaCallback, PayHeroV2Callback } from './providers.js'
import { OrderUpsertBody, amountDecimalsOf, hasAtMostDecimals } from './orders.js'
import { StreamEvent } from './events.js'
import { OrderOutcomeBody } from './backends.js'

export interface FieldError {
  /** JSON pointer of the failing field, e.g. `/response/ResultCode` (empty for the root). */
  field: string
  message: string
}

export type Validation<T> = { ok: true, value: T } | { ok: false, errors: FieldError[] }

export interface CompiledValidator<T> {
  check (value: unknown): value is T
  validate (value: unknown): Validation<T>
}

export function compileValidator<S extends TSchema> (schema: S): CompiledValidator<Static<S>> {
  const compiled = Compile(schema)
  return {
    check: (value: unknown): value is Static<S> => compiled.Check(value),
    validate (value: unknown): Validation<Static<S>> {
      if (compiled.Check(value)) return { ok: true, value }
      return { ok: false, errors: describeErrors(compiled.Errors(value)) }
    }
  }
}

/** A validator that also runs `check` (a rule across fields a schema cannot say) on a value the schema accepts. */
function withCheck<T> (validator: CompiledValidator<T>, check: (value: T) => FieldError | null): CompiledValidator<T> {
  return {
    check: (value: unknown): value is T => validator.check(value) && check(value) === null,
    validate (value: unknown): Validation<T> {
      const result = validator.validate(value)
      if (!result.ok) return result
      const error = check(result.value)
      return error === null ? result : { ok: false, errors: [error] }
    }
  }
}

interface RawError { instancePath: string, message: string, keyword: string, params: Record<string, unknown> }

function describeErrors (raw: readonly RawError[]): FieldError[] {
  const seen = new Set<string>()
  const errors: FieldError[] = []
  for (const error of raw) {
    // A false sub-schema repeats the additionalProperties error with a less helpful message.
    if (error.keyword === 'boolean') continue
    let field = error.instancePath
    if (error.keyword === 'required' && Array.isArray(error.params.requiredProperties)) {
      field = `${field}/${String(error.params.requiredProperties[0])}`
    }
    if (error.keyword === 'additionalProperties' && Array.isArray(error.params.additionalProperties)) {
      field = `${field}/${String(error.params.additionalProperties[0])}`
    }
    const key = `${field} ${error.message}`
    if (seen.has(key)) continue
    seen.add(key)
    errors.push({ field, message: error.message })
  }
  return errors
}

/** `field message` of the first error, for a one-line human error. */
export function firstErrorText (errors: readonly FieldError[]): string {
  const first = errors[0]
  if (first === undefined) return 'invalid value'
  return `${first.field === '' ? 'body' : first.field} ${first.message}`
}

export const validatePayHeroV2 = compileValidator(PayHeroV2Callback)
export const validatePayHeroAfrica = compileValidator(PayHeroAfricaCallback)
export const validateDarajaStk = compileValidator(DarajaStkCallback)
export const validateOrderOutcome = compileValidator(OrderOutcomeBody)
export const validateOrderUpsert = withCheck(compileValidator(OrderUpsertBody), (order) => {
  const decimals = amountDecimalsOf(order.currency)
  if (hasAtMostDecimals(order.totalAmount, decimals)) return null
  return { field: '/totalAmount', message: `must have at most ${decimals} decimals in ${order.currency}` }
})
export const validateStreamEvent = compileValidator(StreamEvent)
