// Test support for log output: captures a logger's JSON lines and finds keys a line repeats.
import { Writable } from 'node:stream'

/**
 * Keys that appear twice in one object of a JSON text, as `path.key` (`JSON.parse` keeps the last one
 * silently; log pipelines reject or mangle such lines). Assumes valid JSON, as pino writes.
 */
export function duplicateKeys (json: string): string[] {
  const found: string[] = []
  let at = 0
  const skipSpace = (): void => { while (/\s/.test(json[at] ?? '')) at++ }
  const readString = (): string => {
    const start = at
    at++
    while (json[at] !== '"') at += json[at] === '\\' ? 2 : 1
    at++
    return JSON.parse(json.slice(start, at)) as string
  }
  const readValue = (path: string): void => {
    skipSpace()
    const char = json[at]
    if (char === '{') {
      at++
      const keys = new Set<string>()
      skipSpace()
      while (json[at] !== '}') {
        skipSpace()
        const key = readString()
        if (keys.has(key)) found.push(path === '' ? key : `${path}.${key}`)
        keys.add(key)
        skipSpace()
        at++ // ':'
        readValue(path === '' ? key : `${path}.${key}`)
        skipSpace()
        if (json[at] === ',') at++
        skipSpace()
      }
      at++
    } else if (char === '[') {
      at++
      skipSpace()
      while (json[at] !== ']') {
        readValue(`${path}[]`)
        skipSpace()
        if (json[at] === ',') at++
        skipSpace()
      }
      at++
    } else if (char === '"') {
      readString()
    } else {
      while (at < json.length && !/[,}\]\s]/.test(json[at]!)) at++
    }
  }
  readValue('')
  return found
}

/** A stream for pino's `stream` option that hands each complete line to `onLine`. */
function lineStream (onLine: (line: string) => void): Writable {
  let pending = ''
  return new Writable({
    write (chunk: Buffer, _encoding, done) {
      const parts = (pending + chunk.toString('utf8')).split('\n')
      pending = parts.pop()!
      for (const line of parts) if (line !== '') onLine(line)
      done()
    }
  })
}

/** A stream for pino's `stream` option that keeps every line written to it. */
export function captureLogLines (): { stream: Writable, lines: string[] } {
  const lines: string[] = []
  return { stream: lineStream((line) => lines.push(line)), lines }
}

/**
 * A log stream for test apps: checks every line for repeated keys (kept in `problems`) and echoes lines
 * to stdout when `echo` is set (TEST_LOG_LEVEL), so a test run proves its logs are well-formed.
 */
export function checkedLogStream (echo: boolean): { stream: Writable, problems: string[], lines: string[] } {
  const problems: string[] = []
  // The latest lines, for tests that look for one; bounded so a long test does not grow without end.
  const lines: string[] = []
  const stream = lineStream((line) => {
    if (echo) process.stdout.write(`${line}\n`)
    lines.push(line)
    if (lines.length > 5000) lines.splice(0, 1000)
    const repeated = duplicateKeys(line)
    if (repeated.length > 0) problems.push(`${repeated.join(', ')} repeated in ${line.slice(0, 300)}`)
  })
  return { stream, problems, lines }
}
