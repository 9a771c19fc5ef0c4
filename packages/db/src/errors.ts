// Telling "Postgres is not reachable right now" apart from a bad query: the first is a 503, the second a bug.

const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])

/** True for errors that mean "Postgres is not reachable right now" rather than a bad query. */
export function isDatabaseUnavailable (err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 5) return false
  const { code, message, cause, errors } = err as { code?: unknown, message?: unknown, cause?: unknown, errors?: unknown }
  if (typeof code === 'string' && (UNAVAILABLE_ERRNO.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300')) return true
  if (typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated|connection timeout|Query read timeout|Client has encountered a connection error/i.test(message)) return true
  if (Array.isArray(errors) && errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true
  return isDatabaseUnavailable(cause, depth + 1)
}
