// Time as the client sees it: injectable so the retry and reconnect policies can be tested without waiting.

export interface Clock {
  now (): number
  /** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
  sleep (ms: number, signal?: AbortSignal): Promise<void>
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  timer (fn: () => void, ms: number): () => void
}

export function abortReason (signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError')
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep (ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) return reject(abortReason(signal))
      const onAbort = (): void => {
        clearTimeout(handle)
        reject(abortReason(signal as AbortSignal))
      }
      const handle = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  },
  timer (fn, ms) {
    const handle = setTimeout(fn, ms)
    return () => clearTimeout(handle)
  }
}
