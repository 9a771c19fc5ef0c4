// Provider callbacks are not signed: a secret path token, compared in constant time, authenticates them.
import { createHash, timingSafeEqual } from 'node:crypto'

/** Hashing both sides first gives equal lengths, so neither the content nor the length of the secret leaks. */
export function pathTokenMatches (expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(given).digest()
  return timingSafeEqual(a, b)
}
