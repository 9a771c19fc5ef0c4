// Latency summaries: exact percentiles over every sample of a run (runs are small enough to sort).

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** Milliseconds in, milliseconds out, rounded to 0.01 ms. */
export function summarize (samples: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samples).sort()
  const values = Array.from(sorted)
  const total = values.reduce((sum, value) => sum + value, 0)
  return {
    count: values.length,
    p50: round(percentile(values, 50)),
    p90: round(percentile(values, 90)),
    p99: round(percentile(values, 99)),
    max: round(values.length === 0 ? Number.NaN : values[values.length - 1]),
    mean: round(values.length === 0 ? Number.NaN : total / values.length)
  }
}

export function round (value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

/** `a / b` rounded, or null when either side is missing or zero. */
export function ratio (a: number | null | undefined, b: number | null | undefined, digits = 2): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null
  return round(a / b, digits)
}
