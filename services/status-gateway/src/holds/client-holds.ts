// How many long-polls and SSE streams each client holds open on this replica, against a cap.

/** A held request's slots; calling it again is harmless. */
export type ReleaseHold = () => void

/**
 * Counts open holds per key (a client address, a token) and refuses a new one when any of its keys is at
 * `limit`: one client cannot pin memory and descriptors meant for everyone. A limit of 0 counts nothing.
 */
export class ClientHolds {
  readonly limit: number
  readonly #counts = new Map<string, number>()

  constructor (limit: number) {
    this.limit = limit
  }

  /** Takes one slot under each key, or none when one of them is full (then null). */
  acquire (keys: readonly string[]): ReleaseHold | null {
    if (this.limit === 0) return () => {}
    if (keys.some((key) => this.count(key) >= this.limit)) return null
    for (const key of keys) this.#counts.set(key, this.count(key) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      for (const key of keys) {
        const left = this.count(key) - 1
        if (left > 0) this.#counts.set(key, left)
        else this.#counts.delete(key)
      }
    }
  }

  count (key: string): number {
    return this.#counts.get(key) ?? 0
  }

  /** Keys with at least one hold: memory stays proportional to the clients holding something. */
  get keys (): number {
    return this.#counts.size
  }
}
