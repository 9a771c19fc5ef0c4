// The seed-design server, run as the bench runs it (its own process, real Redis): a held wait gets the
// callback's message, and every waiter holds its own Redis connection.
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { Redis } from 'ioredis'
// The built module: it preloads the built probe into the process it starts.
import { ServiceProcess } from '../dist/processes.js'
import { waitUntil } from '../src/load.ts'
import { redisClients } from '../src/observe.ts'

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

t.test('a held wait answers with the published callback; one Redis connection per waiter', async (t) => {
  const tag = `t${process.pid}`
  const server = await ServiceProcess.start({
    name: 'seed-baseline',
    entry: fileURLToPath(new URL('../dist/servers/seed-baseline.js', import.meta.url)),
    env: { REDIS_URL: redisUrl, BASELINE_CHANNEL_PREFIX: `bench-test-${tag}`, BASELINE_CONNECTION_NAME: `seed-test-${tag}` },
    logPath: '/dev/null'
  })
  const pool = new Pool(server.url, { connections: 8 })
  const redis = new Redis(redisUrl)
  t.teardown(async () => {
    redis.disconnect()
    await pool.destroy()
    await server.stop()
  })
  const stats = async () => (await (await pool.request({ method: 'GET', path: '/stats' })).body.json() as { subscribed: number }).subscribed
  const waits = ['a', 'b', 'c'].map(async (id) => {
    const response = await pool.request({ method: 'GET', path: `/wait/order-${id}?timeout=30000` })
    return await response.body.json() as { paymentStatus?: string, timedOut?: boolean, orderId?: string }
  })
  t.ok(await waitUntil(async () => await stats() === 3, 20_000), 'all three subscribed')
  t.equal((await redisClients(redis, `seed-test-${tag}-subscriber`)).named, 3)
  for (const id of ['a', 'b', 'c']) {
    const response = await pool.request({ method: 'POST', path: `/callback/order-${id}`, headers: { 'content-type': 'application/json' }, body: '{}' })
    t.match(await response.body.json(), { receivers: 1 })
  }
  for (const answer of await Promise.all(waits)) t.match(answer, { paymentStatus: 'completed', timedOut: false })
  t.ok(await waitUntil(async () => (await redisClients(redis, `seed-test-${tag}-subscriber`)).named === 0, 10_000), 'connections closed after answering')
})
