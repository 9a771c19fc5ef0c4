import t from 'tap'
import Type from 'typebox'
import { Redis } from 'ioredis'
import { CommonEnv, ConfigError, commaList, legacyRedisUrl, loadConfig } from '../src/index.js'

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

t.test('without REDIS_URL the old REDIS_HOST, REDIS_PORT, REDIS_PASSWORD and REDIS_DB build it', async (t) => {
  t.equal(loadConfig(Schema, { ...base, REDIS_HOST: 'redis', REDIS_PORT: '6380' }).REDIS_URL, 'redis://redis:6380')
  t.equal(loadConfig(Schema, { ...base, REDIS_HOST: 'cache.internal' }).REDIS_URL, 'redis://cache.internal:6379', 'the port defaults to 6379')
  t.equal(loadConfig(Schema, { ...base, REDIS_PASSWORD: 'secret' }).REDIS_URL, 'redis://:secret@127.0.0.1:6379', 'the host defaults to 127.0.0.1')
  t.equal(loadConfig(Schema, { ...base, REDIS_URL: 'redis://wins:1', REDIS_HOST: 'ignored' }).REDIS_URL, 'redis://wins:1', 'REDIS_URL wins')
  t.equal(legacyRedisUrl({ REDIS_HOST: '', REDIS_PORT: '' }), undefined, 'empty counts as unset')

  const url = loadConfig(Schema, { ...base, REDIS_HOST: '10.0.0.5', REDIS_PORT: '6390', REDIS_PASSWORD: 'p@ss:w/rd %', REDIS_DB: '2' }).REDIS_URL
  // What the Redis client makes of it: the password survives its special characters.
  const client = new Redis(url, { lazyConnect: true })
  t.teardown(() => client.disconnect())
  t.match(client.options, { host: '10.0.0.5', port: 6390, password: 'p@ss:w/rd %', db: 2 })

  const variableOf = (env: NodeJS.ProcessEnv) => (t.throws(() => loadConfig(Schema, { ...base, ...env })) as ConfigError).variable
  t.equal(variableOf({ REDIS_PORT: 'tcp://10.0.0.1:6379' }), 'REDIS_PORT')
  t.equal(variableOf({ REDIS_PORT: '0' }), 'REDIS_PORT')
  t.equal(variableOf({ REDIS_HOST: 'redis:6379' }), 'REDIS_HOST')
  t.equal(variableOf({ REDIS_HOST: 'redis', REDIS_DB: 'one' }), 'REDIS_DB')
})
