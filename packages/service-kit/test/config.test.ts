import t from 'tap'
import Type from 'typebox'
import { CommonEnv, ConfigError, commaList, loadConfig } from '../src/index.js'

const Schema = Type.Object({
  ...CommonEnv,
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3001 }),
  FLAG: Type.Boolean({ default: false })
})

const base = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' }

t.test('defaults are applied and strings are converted to numbers and booleans', async (t) => {
  const config = loadConfig(Schema, { ...base, PORT: '4000', FLAG: 'true' })
  t.equal(config.PORT, 4000)
  t.equal(config.FLAG, true)
  t.equal(config.HERALD_REDIS_PREFIX, 'herald')
  t.equal(config.HERALD_STREAM_SHARDS, 1)
  t.equal(config.REDIS_URL, 'redis://127.0.0.1:6379')
})

t.test('a bad value throws a ConfigError naming the variable and the value', async (t) => {
  const err = t.throws(() => loadConfig(Schema, { ...base, PORT: 'abc' })) as ConfigError
  t.ok(err instanceof ConfigError)
  t.equal(err.variable, 'PORT')
  t.match(err.message, /PORT/)
  t.match(err.message, /"abc"/)
})

t.test('a missing required variable is named', async (t) => {
  const err = t.throws(() => loadConfig(Schema, {})) as ConfigError
  t.equal(err.variable, 'DATABASE_URL')
  t.match(err.message, /DATABASE_URL is required/)
})

t.test('every bad variable is listed, the first one first', async (t) => {
  const err = t.throws(() => loadConfig(Schema, { ...base, PORT: '70000', HERALD_STREAM_SHARDS: '0' })) as ConfigError
  t.match(err.message, /PORT/)
  t.match(err.message, /HERALD_STREAM_SHARDS/)
})

t.test('URL schemes and prefixes are checked', async (t) => {
  const variableOf = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(Schema, env)
      return undefined
    } catch (err) {
      return (err as ConfigError).variable
    }
  }
  t.equal(variableOf({ ...base, REDIS_URL: 'http://x' }), 'REDIS_URL')
  t.equal(variableOf({ ...base, REDIS_URL: 'rediss+cluster://user:pw@a:1,b:2' }), undefined, 'a TLS cluster URL with credentials is accepted')
  t.equal(variableOf({ DATABASE_URL: 'mysql://x' }), 'DATABASE_URL')
  t.equal(variableOf({ ...base, HERALD_REDIS_PREFIX: 'has space' }), 'HERALD_REDIS_PREFIX')
  t.equal(variableOf({ ...base, REDIS_CLUSTER_NODES: 'a:1,b' }), 'REDIS_CLUSTER_NODES')
  t.equal(loadConfig(Schema, { ...base, REDIS_CLUSTER_NODES: 'a:1,b:2' }).REDIS_CLUSTER_NODES, 'a:1,b:2')
})

t.test('an empty variable counts as unset', async (t) => {
  t.equal(loadConfig(Schema, { ...base, PORT: '' }).PORT, 3001)
})

t.test('commaList trims and drops empty items', async (t) => {
  t.same(commaList(' a, b,,c '), ['a', 'b', 'c'])
  t.same(commaList(undefined), [])
  t.same(commaList(''), [])
})
