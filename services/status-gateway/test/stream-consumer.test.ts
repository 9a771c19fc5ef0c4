import t from 'tap'
import Fastify from 'fastify'
import type { StreamEvent } from '@herald/contracts'
import { createRedisClient } from '@herald/streams'
import { freePort, useTestPrefix } from '@herald/service-kit/testing'
import { StreamConsumer } from '../src/streams/stream-consumer.js'
import { orderEvent, startRedis, stopRedis, usePublisher, waitUntil } from './support.js'

t.test('a read given up by the watchdog while Redis is down does not stall the consumer once Redis is back', async (t) => {
  const port = await freePort()
  let server = await startRedis(port)
  t.teardown(() => stopRedis(server))
  const url = `redis://127.0.0.1:${port}`
  const { publisher, layout } = usePublisher(t, useTestPrefix(t, 'consumer-watchdog'), { url })
  const warnings: string[] = []
  const { log } = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warnings.push(line) } } } })
  const delivered: StreamEvent[] = []
  const consumer = new StreamConsumer({
    shard: 0,
    streamKey: layout.streamKey(0),
    group: 'gw:watchdog-test',
    consumer: 'watchdog-test',
    connect: () => createRedisClient({ url, maxRetriesPerRequest: null, enableOfflineQueue: false }),
    blockMs: 200,
    count: 10,
    dispatch: (event) => { delivered.push(event) },
    log
  })
  consumer.start()
  t.teardown(() => consumer.close())
  await consumer.reading
  await publisher.publish(orderEvent('o-watchdog', 1))
  await waitUntil(() => delivered.length === 1, 'the first event')

  // The blocked read dies with the connection and waits in ioredis' re-send queue; Redis stays down past
  // BLOCK plus the watchdog's margin, so the watchdog gives the read up while the client is reconnecting.
  await stopRedis(server)
  await waitUntil(() => warnings.some((line) => line.includes('outlived its deadline')), 'the watchdog to fire while Redis is down')
  server = await startRedis(port)

  await waitUntil(async () => {
    await publisher.publish(orderEvent('o-watchdog', 2)).catch(() => {})
    return delivered.some((event) => event.version === 2)
  }, 'an event published after Redis came back to be delivered')
  t.equal(delivered.at(-1)?.version, 2, 'the consumer reads again')
  await consumer.close()
  t.pass('the consumer closes')
})
