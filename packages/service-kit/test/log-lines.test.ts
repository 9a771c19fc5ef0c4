import t from 'tap'
import pino from 'pino'
import { captureLogLines, duplicateKeys } from '../src/log-lines.js'

t.test('duplicateKeys finds a key repeated in one object, at any depth, and nothing else', async (t) => {
  t.same(duplicateKeys('{"component":"a","component":"b"}'), ['component'])
  t.same(duplicateKeys('{"err":{"code":1,"code":2},"list":[{"a":1,"a":2}]}'), ['err.code', 'list[].a'])
  t.same(duplicateKeys('{"a":"x\\"y","b":{"a":1},"c":[1,"a",{"b":null}]}'), [], 'the same key in different objects is fine')
})

t.test('a pino child of a child that repeats its binding is caught', async (t) => {
  const { stream, lines } = captureLogLines()
  const log = pino({ base: null }, stream)
  log.child({ component: 'outer' }).child({ component: 'inner' }).info('hello')
  t.same(duplicateKeys(lines[0]!), ['component'])
})
