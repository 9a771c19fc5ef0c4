import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Deadlines, type Expiring } from '../../src/long-poll/deadlines.js'

interface Entry extends Expiring { name: string }
const entry = (name: string): Entry => ({ name, deadline: 0, deadlineSlot: -1 })

/** A sweep that records when (ms since the test's start) each entry expired. */
function recorder () {
  const start = performance.now()
  const expired: Array<{ name: string, at: number, early: boolean }> = []
  const deadlines = new Deadlines<Entry>((e) => {
    const now = performance.now()
    expired.push({ name: e.name, at: now - start, early: now < e.deadline })
  })
  return { deadlines, expired }
}

t.test('each entry expires at its own deadline, in deadline order, never before it', async (t) => {
  const { deadlines, expired } = recorder()
  const delays = [120, 40, 200, 40, 80, 160, 10]
  for (const [i, delay] of delays.entries()) deadlines.add(entry(`e${i}-${delay}`), delay)
  t.equal(deadlines.size, delays.length)
  await sleep(300)
  t.equal(expired.length, delays.length)
  t.same(expired.map((e) => Number(e.name.split('-')[1])), [...delays].sort((a, b) => a - b), 'in deadline order')
  for (const e of expired) {
    const delay = Number(e.name.split('-')[1])
    t.notOk(e.early, `${e.name} not before its deadline`)
    t.ok(e.at < delay + 150, `${e.name} at ${Math.round(e.at)} ms, near ${delay} ms`)
  }
  t.equal(deadlines.size, 0)
})

t.test('a deleted entry never expires; deleting the head lets the next one expire on time', async (t) => {
  const { deadlines, expired } = recorder()
  const head = entry('head')
  const middle = entry('middle')
  deadlines.add(head, 30)
  deadlines.add(middle, 60)
  deadlines.add(entry('last'), 90)
  deadlines.delete(head)
  deadlines.delete(middle)
  deadlines.delete(middle)
  t.equal(head.deadlineSlot, -1)
  t.equal(deadlines.size, 1)
  await sleep(150)
  t.same(expired.map((e) => e.name), ['last'])
})

t.test('an earlier entry added later re-arms the timer; the heap stays ordered through many deletes', async (t) => {
  const { deadlines, expired } = recorder()
  const entries = Array.from({ length: 200 }, (_, i) => entry(`n${i}`))
  entries.forEach((e, i) => deadlines.add(e, 100 + ((i * 37) % 200)))
  for (const e of entries.filter((_, i) => i % 3 === 0)) deadlines.delete(e)
  deadlines.add(entry('first'), 10)
  await sleep(40)
  t.same(expired.map((e) => e.name), ['first'], 'the later-added, earlier deadline expired first and alone')
  await sleep(330)
  t.equal(expired.length, 1 + entries.length - Math.ceil(entries.length / 3))
  const order = expired.slice(1).map((e) => entries.find((n) => n.name === e.name)!.deadline)
  t.same(order, [...order].sort((a, b) => a - b), 'the rest in deadline order')
  t.notOk(expired.some((e) => e.early))
})
