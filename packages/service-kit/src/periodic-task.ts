// Background work that runs every so often in a service (sweeps, repairs, heartbeats, samples).
import type { FastifyBaseLogger } from 'fastify'

export interface PeriodicTaskOptions {
  /** What a pass does, for the line logged when one fails (`<name> failed`). */
  name: string
  /** From the end of one pass to the start of the next. */
  intervalMs: number
  run: () => Promise<unknown>
  log: FastifyBaseLogger
}

/**
 * Runs a pass every `intervalMs`, counted from the end of the previous one, so passes never overlap and a
 * slow one delays the next instead of piling up. A failed pass is logged and the next runs as planned. The
 * timer never keeps the process alive. Once closed, it stays closed.
 */
export class PeriodicTask {
  readonly #options: PeriodicTaskOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #started = false
  #closed = false

  constructor (options: PeriodicTaskOptions) {
    this.#options = options
  }

  /** Schedules the first pass one interval from now; idempotent, and nothing after close(). */
  start (): void {
    if (this.#started || this.#closed) return
    this.#started = true
    this.#schedule()
  }

  #schedule (): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#running = this.#pass().finally(() => {
        this.#running = undefined
        this.#schedule()
      })
    }, this.#options.intervalMs)
    this.#timer.unref()
  }

  async #pass (): Promise<void> {
    try {
      await this.#options.run()
    } catch (err) {
      this.#options.log.warn({ err }, `${this.#options.name} failed`)
    }
  }

  /** Cancels the next pass and waits for one in progress; idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#running
  }
}
