// Masks personal data (emails, phone numbers) before it reaches a log line or a stored raw payload.

const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g
// 9 to 15 digits, optionally with a leading +: Kenyan MSISDNs (2547…, 07…) and international numbers.
// Not digits inside an identifier (ws_CO_1711…, UFD0044…): those are references an audit needs intact.
const PHONE = /(?<![A-Za-z0-9_.])(\+?\d{3})\d{3,9}(\d{3})(?!\d)/g

export function maskText (text: string): string {
  return text.replace(EMAIL, '$1***@$2').replace(PHONE, '$1*****$2')
}

const PHONE_KEY = /phone|msisdn|mobile/i

/**
 * A deep copy of `value` with emails and phone numbers masked. Numbers under a phone-like key
 * (Daraja sends `PhoneNumber` as a number) and Daraja's `{ Name: 'PhoneNumber', Value }` items are masked too.
 */
export function maskPersonalData (value: unknown, key = '', depth = 0): unknown {
  if (depth > 32) return '[too deep]'
  if (typeof value === 'string') return PHONE_KEY.test(key) ? maskText(value.replace(/\d(?=\d{3})/g, (d, i: number) => i < 3 ? d : '*')) : maskText(value)
  if (typeof value === 'number') return PHONE_KEY.test(key) ? maskText(String(value)) : value
  if (Array.isArray(value)) return value.map((item) => maskPersonalData(item, key, depth + 1))
  if (value !== null && typeof value === 'object') {
    const source = value as Record<string, unknown>
    const out: Record<string, unknown> = {}
    const phoneItem = typeof source.Name === 'string' && PHONE_KEY.test(source.Name)
    for (const [k, v] of Object.entries(source)) {
      out[k] = maskPersonalData(v, phoneItem && k === 'Value' ? 'phone' : k, depth + 1)
    }
    return out
  }
  return value
}

/**
 * An error as it may be logged: messages and stacks masked, and the fields where query builders keep
 * the statement's parameters (drizzle's `params`, pg's `parameters`) left out: an order upsert's
 * parameters are the customer's name, email and phone.
 */
export function maskErrorForLog (err: unknown, depth = 0): unknown {
  if (!(err instanceof Error) || depth > 3) return err
  const out: Record<string, unknown> = { type: err.name, message: maskText(err.message) }
  if (err.stack !== undefined) out.stack = maskText(err.stack)
  const { code, statusCode, cause } = err as Error & { code?: unknown, statusCode?: unknown }
  if (code !== undefined) out.code = code
  if (statusCode !== undefined) out.statusCode = statusCode
  if (cause !== undefined) out.cause = maskErrorForLog(cause, depth + 1)
  return out
}
