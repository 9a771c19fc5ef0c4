// A Redis Cluster of the test's own: masters with one replica each on free loopback ports (node and bus
// ports chosen separately), nothing kept on disk, every process killed and its directory removed in
// teardown. It can fail a master over by hand (CLUSTER FAILOVER on its replica) or kill one outright.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createRedisClient, type RedisClient } from '@herald/streams'
import { freePort, until, type Teardown } from './processes.js'

const run = promisify(execFile)

export interface ClusterNodeInfo {
  port: number
  id: string
  role: 'master' | 'replica'
  /** The master's node id, for a replica. */
  masterId: string | null
  /** Slot ranges served, for a master. */
  slots: Array<[number, number]>
  failed: boolean
}

class ClusterNode {
  readonly port: number
  readonly busPort: number
  readonly dir: string
  #child: ChildProcess | null = null
  #output = ''

  constructor (port: number, busPort: number, dir: string) {
    this.port = port
    this.busPort = busPort
    this.dir = dir
  }

  get running (): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null
  }

  async launch (nodeTimeoutMs: number): Promise<void> {
    mkdirSync(this.dir, { recursive: true })
    const child = spawn('redis-server', [
      '--port', String(this.port), '--cluster-port', String(this.busPort), '--bind', '127.0.0.1',
      '--protected-mode', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'),
      '--cluster-node-timeout', String(nodeTimeoutMs),
      // A replica may always take over, however long it was cut off: the test kills masters on purpose.
      '--cluster-replica-validity-factor', '0',
      '--appendonly', 'no', '--save', '', '--dir', this.dir, '--daemonize', 'no'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (chunk: Buffer) => { this.#output = (this.#output + chunk.toString()).slice(-10_000) })
    this.#child = child
    await until(() => this.#output.includes('Ready to accept connections') || child.exitCode !== null, `redis-server on ${this.port} to start`, 30_000)
    if (child.exitCode !== null) throw new Error(`redis-server on ${this.port} exited:\n${this.#output}`)
  }

  /** SIGKILL: the node is gone without a word to the cluster. */
  async kill (): Promise<void> {
    const child = this.#child
    if (child === null || !this.running) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
}

/** Runs one command on one node, on a short-lived connection. */
async function onNode<T> (port: number, command: (redis: RedisClient) => Promise<T>): Promise<T> {
  const redis = createRedisClient({ url: `redis://127.0.0.1:${port}`, lazyConnect: true, maxRetriesPerRequest: 0 })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return await command(redis)
  } finally {
    redis.disconnect()
  }
}

/** CLUSTER NODES as seen from one node. */
function parseClusterNodes (text: string): ClusterNodeInfo[] {
  return text.trim().split('\n').map((line) => {
    const [id, address, flags, masterId, , , , , ...slots] = line.split(' ')
    const flagList = flags!.split(',')
    return {
      port: Number(address!.split('@')[0]!.split(':')[1]),
      id: id!,
      role: flagList.includes('master') ? 'master' : 'replica',
      masterId: masterId === '-' ? null : masterId!,
      slots: slots.filter((s) => !s.startsWith('[')).map((s) => {
        const [from, to] = s.split('-').map(Number)
        return [from!, to ?? from!] as [number, number]
      }),
      failed: flagList.includes('fail') || flagList.includes('fail?')
    }
  })
}

export class RedisCluster {
  readonly #nodes: ClusterNode[]
  readonly #nodeTimeoutMs: number

  private constructor (nodes: ClusterNode[], nodeTimeoutMs: number) {
    this.#nodes = nodes
    this.#nodeTimeoutMs = nodeTimeoutMs
  }

  static async start (t: Teardown, options: { masters?: number, nodeTimeoutMs?: number } = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3
    const root = mkdtempSync(join(tmpdir(), 'herald-cluster-'))
    const nodes: ClusterNode[] = []
    for (let i = 0; i < masters * 2; i++) nodes.push(new ClusterNode(await freePort(), await freePort(), join(root, String(i))))
    const cluster = new RedisCluster(nodes, options.nodeTimeoutMs ?? 2000)
    t.teardown(async () => {
      await Promise.all(nodes.map((node) => node.kill()))
      rmSync(root, { recursive: true, force: true })
    })
    await Promise.all(nodes.map((node) => node.launch(cluster.#nodeTimeoutMs)))
    // The first `masters` nodes become masters, the others one replica each.
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 })
    await cluster.settled()
    return cluster
  }

  /** The URL the services take: every node a seed. */
  get url (): string {
    return `redis+cluster://${this.#nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`
  }

  /** The cluster as a running node sees it. */
  async topology (): Promise<ClusterNodeInfo[]> {
    const node = this.#nodes.find((n) => n.running)
    if (node === undefined) throw new Error('no cluster node runs')
    return parseClusterNodes(await onNode(node.port, (redis) => redis.call('CLUSTER', 'NODES') as Promise<string>))
  }

  /** Waits until every running node says the cluster is ok, every slot has a live master and each master a synced replica (when it has one alive). */
  async settled (limitMs = 60_000): Promise<void> {
    await until(async () => {
      try {
        for (const node of this.#nodes.filter((n) => n.running)) {
          const info = await onNode(node.port, (redis) => redis.call('CLUSTER', 'INFO') as Promise<string>)
          if (!info.includes('cluster_state:ok')) return false
          const replication = await onNode(node.port, (redis) => redis.info('replication'))
          if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false
        }
        return true
      } catch {
        return false
      }
    }, 'the Redis Cluster to settle', limitMs)
  }

  /** The master serving `key` right now. */
  async masterOf (key: string): Promise<ClusterNodeInfo> {
    const slot = Number(await onNode(this.#nodes.find((n) => n.running)!.port, (redis) => redis.call('CLUSTER', 'KEYSLOT', key)))
    const master = (await this.topology()).find((node) => node.role === 'master' && !node.failed && node.slots.some(([from, to]) => slot >= from && slot <= to))
    if (master === undefined) throw new Error(`no live master serves slot ${slot}`)
    return master
  }

  async replicaOf (master: ClusterNodeInfo): Promise<ClusterNodeInfo> {
    const replica = (await this.topology()).find((node) => node.role === 'replica' && node.masterId === master.id && !node.failed)
    if (replica === undefined) throw new Error(`master on ${master.port} has no live replica`)
    return replica
  }

  /**
   * A manual failover: the replica of `master` waits until it has everything the master wrote, then
   * takes its slots over (no write is lost); the old master becomes its replica.
   */
  async failover (master: ClusterNodeInfo): Promise<ClusterNodeInfo> {
    const replica = await this.replicaOf(master)
    await onNode(replica.port, (redis) => redis.call('CLUSTER', 'FAILOVER'))
    await until(async () => (await this.topology()).find((node) => node.id === replica.id)?.role === 'master', `the replica on ${replica.port} to take over`, 30_000)
    await this.settled()
    return replica
  }

  /**
   * SIGKILLs a master: after the node timeout the others mark it failed and its replica is elected in its
   * place. Writes the replica had not received yet are lost, as in production.
   */
  async killMaster (master: ClusterNodeInfo): Promise<ClusterNodeInfo> {
    const replica = await this.replicaOf(master)
    await this.#nodes.find((node) => node.port === master.port)!.kill()
    await until(async () => {
      try {
        return (await this.topology()).find((node) => node.id === replica.id)?.role === 'master'
      } catch {
        return false
      }
    }, `the replica on ${replica.port} to be promoted`, 30_000 + this.#nodeTimeoutMs * 5)
    await this.settled()
    return replica
  }
}
