// Ways of offering load: a fixed amount of work at bounded concurrency, an open loop at a fixed rate,
// and a closed loop for a fixed time.
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'

/** Runs `work(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function forEachConcurrently (count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await work(next++)
  })
  await Promise.all(lanes)
}

/**
 * Starts `fire(i)` for i in [0, count) at `ratePerSecond`, on schedule whatever the answers take (an open
 * loop, like providers calling back), and resolves once all have been started.
 */
export async function atRate (count: number, ratePerSecond: number, fire: (index: number) => void): Promise<{ seconds: number }> {
  const started = performance.now()
  let sent = 0
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * ratePerSecond) + 1)
    while (sent < due) fire(sent++)
    if (sent < count) await delay(1)
  }
  return { seconds: (performance.now() - started) / 1000 }
}

/**
 * Keeps `concurrency` calls of `work` in flight for `durationMs` (a lane stops early when `work` answers
 * false: nothing left to do); returns how many completed.
 */
export async function closedLoop (durationMs: number, concurrency: number, work: (index: number) => Promise<boolean | undefined>): Promise<{ completed: number, seconds: number }> {
  const started = performance.now()
  const deadline = started + durationMs
  let next = 0
  let completed = 0
  const lanes = Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      if (await work(next++) === false) return
      completed++
    }
  })
  await Promise.all(lanes)
  return { completed, seconds: (performance.now() - started) / 1000 }
}

/** Polls `check` until it is true or `timeoutMs` passes; returns whether it became true. */
export async function waitUntil (check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await delay(intervalMs)
  }
  return await check()
}
