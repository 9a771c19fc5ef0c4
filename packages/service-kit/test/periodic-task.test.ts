import t from 'tap'
import pino from 'pino'
import { setImmediate, setTimeout as delay } from 'node:timers/promises'
import { captureLogLines } from '../src/log-lines.js'
import { PeriodicTask } from '../src/periodic-task.js'

// The task's timers do not hold the process (that is the point): this one keeps the test alive while it waits.
const keepAlive = setInterval(() => {}, 1000)
t.teardown(() => clearInterval(keepAlive))

function testLog (): { log: pino.Logger, lines: string[] } {
  const { stream, lines } = captureLogLines()
  return { log: pino({ base: null }, stream), lines }
}

function signal (): { promise: Promise<void>, resolve: () => void } {
  let done!: () => void
  const promise = new Promise<void>((resolve) => { done = resolve })
  return { promise, resolve: done }
}

t.test('passes run one after another from one interval after start until close; start twice starts once', async (t) => {
  let passes = 0
  let active = 0
  let overlapped = false
  const { promise: third, resolve: reachedThird } = signal()
  const task = new PeriodicTask({
    name: 'test pass',
    intervalMs: 2,
    log: testLog().log,
    run: async () => {
      if (active > 0) overlapped = true
      active++
      passes++
      // Longer than the interval: a second loop, or a timer that does not wait for the pass, would overlap.
      await delay(10)
      active--
      if (passes >= 3) reachedThird()
    }
  })
  t.teardown(() => task.close())
  task.start()
  task.start()
  t.equal(passes, 0, 'no pass at start: the first comes one interval later')
  await third
  await task.close()
  t.equal(passes, 3, 'the pass in progress at close was the last')
  t.notOk(overlapped, 'never two passes at once')
})

t.test('a failed pass is logged under the task\'s name and the next pass still runs', async (t) => {
  const { log, lines } = testLog()
  let passes = 0
  const { promise: second, resolve: reachedSecond } = signal()
  const task = new PeriodicTask({
    name: 'test sweep',
    intervalMs: 1,
    log,
    run: async () => {
      if (++passes === 1) throw new Error('database away')
      reachedSecond()
    }
  })
  t.teardown(() => task.close())
  task.start()
  await second
  await task.close()
  const logged = lines.map((line) => JSON.parse(line) as { level: number, msg: string, err?: { message: string } })
  t.equal(logged.length, 1, 'one line, for the one failure')
  t.match(logged[0], { level: 40, msg: 'test sweep failed', err: { message: 'database away' } })
})

t.test('close waits for the pass in progress, and no pass follows it', async (t) => {
  let passes = 0
  const { promise: inPass, resolve: entered } = signal()
  const { promise: gate, resolve: release } = signal()
  const task = new PeriodicTask({
    name: 'test pass',
    intervalMs: 1,
    log: testLog().log,
    run: async () => {
      passes++
      entered()
      await gate
    }
  })
  task.start()
  await inPass
  let closed = false
  const closing = task.close().then(() => { closed = true })
  await setImmediate()
  t.notOk(closed, 'close has not returned while the pass runs')
  release()
  await closing
  t.ok(closed)
  await delay(20)
  t.equal(passes, 1, 'no pass after close, however long we wait')
  await task.close()
})

t.test('a task closed before it started never runs', async (t) => {
  let passes = 0
  const task = new PeriodicTask({ name: 'test pass', intervalMs: 1, log: testLog().log, run: async () => { passes++ } })
  await task.close()
  task.start()
  await delay(20)
  t.equal(passes, 0)
})
