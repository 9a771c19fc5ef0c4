// The held long-polls' deadlines: one timer for all of them, armed for the earliest.
import { AsyncResource } from 'node:async_hooks'

/** What a Deadlines sweep orders: its deadline (performance.now() ms) and its place in the heap. */
export interface Expiring {
  deadline: number
  /** Index in the heap; -1 when not in it. Only Deadlines writes it. */
  deadlineSlot: number
}

/**
 * A min-heap of deadlines and one timer, instead of one timer per held request: a `Timeout` with its
 * arguments and its captured async context costs about 450 B per waiter. Each entry expires at its own
 * deadline, never before it (the timer is re-armed when it fires early); adding and deleting are
 * O(log n), so a waiter answered early leaves at once and is not kept until its deadline.
 */
export class Deadlines<T extends Expiring> {
  readonly #heap: T[] = []
  readonly #onExpired: (entry: T) => void
  /** The sweep runs in the context Deadlines was made in, not in that of whichever request armed the timer. */
  readonly #sweepNow = AsyncResource.bind(() => this.#sweep())
  #timer: NodeJS.Timeout | undefined = undefined
  /** When the armed timer fires (Infinity: none armed). */
  #timerAt = Infinity

  constructor (onExpired: (entry: T) => void) {
    this.#onExpired = onExpired
  }

  get size (): number {
    return this.#heap.length
  }

  /** Expires `entry` in `delayMs`; it must not be in the heap already. */
  add (entry: T, delayMs: number): void {
    entry.deadline = performance.now() + delayMs
    entry.deadlineSlot = this.#heap.length
    this.#heap.push(entry)
    this.#up(entry.deadlineSlot)
    if (entry.deadline < this.#timerAt) this.#arm(entry.deadline)
  }

  /** Takes `entry` out (answered, or its client left); harmless when it is not in the heap. */
  delete (entry: T): void {
    const slot = entry.deadlineSlot
    if (slot < 0 || this.#heap[slot] !== entry) return
    entry.deadlineSlot = -1
    const last = this.#heap.pop()!
    if (last !== entry) {
      this.#place(last, slot)
      this.#down(slot)
      this.#up(last.deadlineSlot)
    }
    // The timer of a deleted head stays armed: it finds nothing due and re-arms for the new head.
    if (this.#heap.length === 0) this.#disarm()
  }

  #sweep (): void {
    this.#timer = undefined
    this.#timerAt = Infinity
    const now = performance.now()
    while (this.#heap.length > 0 && this.#heap[0]!.deadline <= now) {
      const entry = this.#heap[0]!
      this.delete(entry)
      this.#onExpired(entry)
    }
    if (this.#heap.length > 0 && this.#timer === undefined) this.#arm(this.#heap[0]!.deadline)
  }

  #arm (at: number): void {
    clearTimeout(this.#timer)
    this.#timerAt = at
    // Timers count whole milliseconds from the loop's clock: at least 1 ms, and a sweep that comes early re-arms.
    this.#timer = setTimeout(this.#sweepNow, Math.max(1, Math.ceil(at - performance.now())))
  }

  #disarm (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  #place (entry: T, slot: number): void {
    this.#heap[slot] = entry
    entry.deadlineSlot = slot
  }

  #up (slot: number): void {
    const entry = this.#heap[slot]!
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1
      const parent = this.#heap[parentSlot]!
      if (parent.deadline <= entry.deadline) break
      this.#place(parent, slot)
      slot = parentSlot
    }
    this.#place(entry, slot)
  }

  #down (slot: number): void {
    const heap = this.#heap
    const entry = heap[slot]!
    for (;;) {
      const left = 2 * slot + 1
      if (left >= heap.length) break
      const right = left + 1
      const child = right < heap.length && heap[right]!.deadline < heap[left]!.deadline ? right : left
      if (heap[child]!.deadline >= entry.deadline) break
      this.#place(heap[child]!, slot)
      slot = child
    }
    this.#place(entry, slot)
  }
}
