// The shard count is recorded in Redis by the first service; a service started with another
// HERALD_STREAM_SHARDS is refused (exit 78, naming the variable and both counts), and the documented
// procedure to change the count (stop everything, delete the record, start with the new count) works.
import t from 'tap'
import { ServiceProcess, ENTRIES, freePort, startGateway, startIngest } from '../support/processes.js'
import { useRedis, useStorage } from '../support/storage.js'
import { MPESA_PATH, darajaCallback, deliver, deliverCallback, orderBody, waitForFinal } from '../support/traffic.js'
import { TEST_SECRETS } from '@herald/service-kit/testing'

async function payOrder (ingestUrl: string, gatewayUrl: string, orderId: string): Promise<string> {
  const checkout = `ws_CO_${orderId}`
  const created = await deliver(() => [ingestUrl], 'PUT', `/v1/orders/${orderId}`, orderBody(checkout), `msg_${orderId}`)
  if (created.status !== 200) throw new Error(`order ${orderId} not created: ${created.status}`)
  const paid = await deliverCallback(() => [ingestUrl], MPESA_PATH, darajaCallback(checkout, 0))
  if (paid.status !== 200) throw new Error(`callback of ${orderId} answered ${paid.status}`)
  return (await waitForFinal(() => [gatewayUrl], orderId, created.body.subscribeToken, 60_000)).final.paymentStatus
}

t.test('a service with another shard count than the recorded one exits 78; the change procedure works', async (t) => {
  const storage = await useStorage(t, 'shard_count')
  const redis = useRedis(t, storage.redisUrl)
  const ingest = await startIngest(t, storage, { HERALD_STREAM_SHARDS: '2' })
  const gateway = await startGateway(t, storage, { HERALD_STREAM_SHARDS: '2' })
  const key = `${storage.prefix}:meta:shards`
  t.equal(await redis.get(key), '2', 'the first service recorded its shard count')
  t.equal(await payOrder(ingest.url, gateway.url, 'shard-1'), 'completed', 'an order is answered with two shards')

  const wrong = new ServiceProcess('status-gateway', ENTRIES.gateway, await freePort(), {
    DATABASE_URL: storage.databaseUrl, REDIS_URL: storage.redisUrl, HERALD_REDIS_PREFIX: storage.prefix, HERALD_STREAM_SHARDS: '1', ...TEST_SECRETS
  })
  t.teardown(() => wrong.stop())
  await wrong.exited
  t.equal(wrong.child.exitCode, 78, 'the mismatched gateway exits 78')
  t.match(wrong.output, /HERALD_STREAM_SHARDS is 1 but the streams in this Redis were written with 2 shards/, 'naming the variable and both counts')
  t.equal(await redis.get(key), '2', 'the record is unchanged')

  // The procedure (docs/RELIABILITY.md, "Changing the shard count"): stop every service, delete the record, start with the new count.
  await Promise.all([ingest.stop(), gateway.stop()])
  await redis.del(key)
  const ingest4 = await startIngest(t, storage, { HERALD_STREAM_SHARDS: '4' })
  const gateway4 = await startGateway(t, storage, { HERALD_STREAM_SHARDS: '4' })
  t.equal(await redis.get(key), '4', 'the new count is recorded')
  t.equal(await payOrder(ingest4.url, gateway4.url, 'shard-2'), 'completed', 'a new order is answered with four shards')
})
