import t from 'tap'
import { clusterTargetOf } from '../src/index.js'

t.test('a single-server URL is not a cluster', async (t) => {
  t.equal(clusterTargetOf({ url: 'redis://127.0.0.1:6379' }), null)
  t.equal(clusterTargetOf({ url: 'rediss://user:pw@redis.example.com:6380' }), null)
})

t.test('redis+cluster:// URLs carry nodes, credentials and TLS', async (t) => {
  t.same(clusterTargetOf({ url: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7001' }), {
    nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }],
    tls: false
  })
  t.same(clusterTargetOf({ url: 'rediss+cluster://herald:s%40cret@a.example.com:6379,b.example.com:6379' }), {
    nodes: [{ host: 'a.example.com', port: 6379 }, { host: 'b.example.com', port: 6379 }],
    username: 'herald',
    password: 's@cret',
    tls: true
  })
  t.same(clusterTargetOf({ url: 'redis+cluster://:only-a-password@a:1' }), { nodes: [{ host: 'a', port: 1 }], password: 'only-a-password', tls: false })
})

t.test('REDIS_CLUSTER_NODES gives the nodes; credentials and TLS come from REDIS_URL', async (t) => {
  t.same(clusterTargetOf({ url: 'rediss://default:pw@ignored:6379', clusterNodes: 'n1:7000, n2:7001' }), {
    nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }],
    username: 'default',
    password: 'pw',
    tls: true
  })
  t.same(clusterTargetOf({ url: 'redis://127.0.0.1:6379', clusterNodes: 'n1:7000' }), { nodes: [{ host: 'n1', port: 7000 }], tls: false })
})
