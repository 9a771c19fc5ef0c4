// A clock for tests: sleeps return at once and are recorded; timers fire only when the test says so.
import type { Clock } from '../src/clock.ts'

export class FakeClock implements Clock {
  readonly sleeps: number[] = []
  #now = 0
  #timers = new Map<number, { fn: () => void, at: number }>()
  #nextTimer = 1

  now (): number { return this.#now }

  async sleep (ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) throw signal.reason
    this.sleeps.push(ms)
    this.#now += ms
    await Promise.resolve()
    signal?.throwIfAborted()
  }

  timer (fn: () => void, ms: number): () => void {
    const id = this.#nextTimer++
    this.#timers.set(id, { fn, at: this.#now + ms })
    return () => { this.#timers.delete(id) }
  }

  /** Fires every pending timer (e.g. a request timeout); returns how many fired. */
  fireTimers (): number {
    const due = [...this.#timers.values()]
    this.#timers.clear()
    for (const timer of due) timer.fn()
    return due.length
  }

  get pendingTimers (): number { return this.#timers.size }
}
