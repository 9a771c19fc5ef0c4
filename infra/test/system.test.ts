// Herald as it is deployed: the built services as separate OS processes (2 webhook-ingest, 3 status-gateway)
// on a 3-master Redis Cluster and a fresh Postgres schema. 1,000 long-polls across the gateways are all
// notified; a gateway killed with SIGKILL mid-run loses none of its SSE clients' events.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'undici'
import type { OrderUpsertBody, OrderWaitResponse } from '@herald/contracts'
import { createDatabase, dropSchema, runMigrations } from '@herald/db'
import { TEST_DATABASE_URL } from '@herald/service-kit/testing'
import { HeraldProducer, darajaCallback, planOrder, seededRandom, type HeraldTarget, type OrderPlan } from '@herald/simulator'
import {
  HeraldProcess, RegistrationFollower, forEachLimited, hasRedisServer, stageOfVersion, startRedisCluster, until
} from './support/system.ts'

const ORDERS = 1000
const REGISTRATIONS = 40
/** Events per registration: stages step_1 … step_{N-1}, then the final verdict. */
const EVENTS_PER_REGISTRATION = 30
/** Producers hold before this version until the gateway is dead, so every follower has events after the kill. */
const HOLD_AT_VERSION = 15
/** Long-polls are held this long at most; far beyond what the run needs, so a timed-out wait means a lost one. */
const WAIT_TIMEOUT_MS = 110_000

if (!(await hasRedisServer())) {
  if (process.env.CI === 'true') throw new Error('redis-server is not installed: CI must run the Redis Cluster system test')
  t.comment('skipped: redis-server is not installed, so no local Redis Cluster can be started')
  t.pass('skipped: redis-server is not installed')
} else {
  await system()
}

async function system (): Promise<void> {
  const processes: HeraldProcess[] = []
  const cluster = await startRedisCluster(3)
  const schema = `t_system_${randomBytes(4).toString('hex')}`
  let migrated = false
  const dispatcher = new Agent({ connections: null, pipelining: 0, headersTimeout: 180_000, bodyTimeout: 180_000 })

  // One teardown in the order that works: processes first (they hold Postgres and Redis connections),
  // then the cluster, then the schema.
  t.teardown(async () => {
    await Promise.all(processes.map(async (herald) => await herald.stop(5000)))
    await dispatcher.close().catch(() => {})
    await cluster.stop()
    if (migrated) await dropSchema(TEST_DATABASE_URL, schema)
  })
  t.afterEach(async (t) => {
    if (t.passing()) return
    for (const herald of processes) t.comment(`${herald.name} output:\n${herald.output.slice(-4000)}`)
  })

  await runMigrations(TEST_DATABASE_URL, schema)
  migrated = true

  const database = new URL(TEST_DATABASE_URL)
  // pg takes `options` from the URL as a startup parameter: the services' pools live in this run's schema.
  database.searchParams.set('options', `-c search_path=${schema}`)
  const secrets = {
    PAYHERO_CALLBACK_TOKEN: randomBytes(18).toString('base64url'),
    MPESA_CALLBACK_TOKEN: randomBytes(18).toString('base64url'),
    INTERNAL_WEBHOOK_SECRETS: `whsec_${randomBytes(24).toString('base64')}`,
    SUBSCRIBE_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    ADMIN_TOKEN: randomBytes(24).toString('base64url')
  }
  const common = {
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    DATABASE_URL: database.toString(),
    REDIS_CLUSTER_NODES: cluster.nodes.join(','),
    HERALD_STREAM_SHARDS: '8',
    HERALD_REDIS_PREFIX: 'herald',
    SHUTDOWN_GRACE_MS: '3000'
  }
  const ingestEnv = {
    ...common,
    PAYHERO_CALLBACK_TOKEN: secrets.PAYHERO_CALLBACK_TOKEN,
    MPESA_CALLBACK_TOKEN: secrets.MPESA_CALLBACK_TOKEN,
    INTERNAL_WEBHOOK_SECRETS: secrets.INTERNAL_WEBHOOK_SECRETS,
    SUBSCRIBE_TOKEN_SECRET: secrets.SUBSCRIBE_TOKEN_SECRET,
    PG_POOL_MAX: '8'
  }
  const gatewayEnv = {
    ...common,
    SUBSCRIBE_TOKEN_SECRET: secrets.SUBSCRIBE_TOKEN_SECRET,
    ADMIN_TOKEN: secrets.ADMIN_TOKEN,
    SSE_PING_INTERVAL_MS: '2000',
    SSE_RETRY_MS: '100',
    // This process stands for a thousand browsers on one address: the per-client cap is off.
    GATEWAY_MAX_HOLDS_PER_CLIENT: '0',
    GATEWAY_RATE_LIMIT_PER_MINUTE: '0',
    PG_POOL_MAX: '4'
  }
  const started = await Promise.all([
    HeraldProcess.start('ingest-a', 'webhook-ingest', ingestEnv),
    HeraldProcess.start('ingest-b', 'webhook-ingest', ingestEnv),
    HeraldProcess.start('gateway-a', 'status-gateway', { ...gatewayEnv, HERALD_INSTANCE_ID: 'system-gateway-a' }),
    HeraldProcess.start('gateway-b', 'status-gateway', { ...gatewayEnv, HERALD_INSTANCE_ID: 'system-gateway-b' }),
    HeraldProcess.start('gateway-c', 'status-gateway', { ...gatewayEnv, HERALD_INSTANCE_ID: 'system-gateway-c' })
  ].map(async (starting) => { const herald = await starting; processes.push(herald); return herald }))
  const ingests = started.slice(0, 2)
  const gateways = started.slice(2)

  const producers = ingests.map((ingest) => {
    const target: HeraldTarget = {
      ingestUrl: ingest.url,
      gatewayUrl: undefined,
      payheroCallbackToken: secrets.PAYHERO_CALLBACK_TOKEN,
      mpesaCallbackToken: secrets.MPESA_CALLBACK_TOKEN,
      internalWebhookSecret: secrets.INTERNAL_WEBHOOK_SECRETS,
      adminToken: secrets.ADMIN_TOKEN
    }
    return new HeraldProducer(target)
  })

  t.test(`${ORDERS} orders waited across 3 gateways are all notified of their payment`, async (t) => {
    const random = seededRandom(6)
    const plans: OrderPlan[] = Array.from({ length: ORDERS }, (_, i) => {
      const orderId = `sys-order-${i}`
      const plan = planOrder(random, orderId, i)
      const order: OrderUpsertBody = {
        ...plan.order,
        provider: 'mpesa',
        references: { checkoutRequestId: `ws_CO_SYS${String(i).padStart(6, '0')}`, merchantRequestId: `${i}-system-1` }
      }
      return { ...plan, channel: 'daraja', order, payment: { outcome: 'completed', resultCode: 0, resultDesc: 'The service request is processed successfully.', delaySeconds: 0 } }
    })

    const tokens: string[] = new Array(ORDERS)
    const registerFailures: string[] = []
    await forEachLimited(plans, 32, async (plan, i) => {
      const answer = await producers[i % 2]!.upsertOrder(plan.orderId, plan.order)
      if (answer.body === undefined) registerFailures.push(`${plan.orderId}: ${answer.status} ${answer.code}`)
      else tokens[i] = answer.body.subscribeToken
    })
    t.same(registerFailures, [], `${ORDERS} orders registered through both ingests`)

    const settled: Array<{ status: number, body: OrderWaitResponse | undefined, gateway: number } | undefined> = new Array(ORDERS)
    let settledCount = 0
    const waits = plans.map(async (plan, i) => {
      const gateway = i % 3
      const response = await request(`${gateways[gateway]!.url}/api/orders/${plan.orderId}/wait?timeout=${WAIT_TIMEOUT_MS}`, {
        headers: { authorization: `Bearer ${tokens[i]}` }, dispatcher
      })
      const body = await response.body.json() as OrderWaitResponse
      settled[i] = { status: response.statusCode, body, gateway }
      settledCount++
    })
    const waitsDone = Promise.all(waits)

    // The callbacks go out only once every wait is held, so each answer must come from a notification.
    const heldWaits = async (): Promise<number> => (await Promise.all(gateways.map((gateway) => gateway.metric('herald_gateway_active_waiters')))).reduce((a, b) => a + b, 0)
    await until(async () => settledCount > 0 || await heldWaits() === ORDERS, `${ORDERS} held long-polls`)
    t.equal(settledCount, 0, 'no wait answered before its payment')
    t.equal(await heldWaits(), ORDERS, `all ${ORDERS} long-polls held, ${ORDERS / 3 | 0}+ per gateway`)

    const callbackFailures: string[] = []
    await forEachLimited(plans, 32, async (plan, i) => {
      const answer = await producers[(i + 1) % 2]!.mpesaCallback(darajaCallback(plan, random))
      if (answer.status !== 200 || (answer.body as { ResultCode?: number } | undefined)?.ResultCode !== 0) {
        callbackFailures.push(`${plan.orderId}: ${answer.status} ${answer.code}`)
      }
    })
    t.same(callbackFailures, [], `${ORDERS} Daraja callbacks accepted, split over both ingests`)

    await waitsDone
    const notCompleted = settled.flatMap((answer, i) => answer?.status === 200 && answer.body?.paymentStatus === 'completed' && answer.body.timedOut === false && answer.body.orderId === plans[i]!.orderId
      ? []
      : [`${plans[i]!.orderId} on gateway ${answer?.gateway}: ${answer?.status} ${answer?.body?.paymentStatus} timedOut=${answer?.body?.timedOut}`])
    t.same(notCompleted.slice(0, 20), [], `every one of the ${ORDERS} waiters answered completed, none timed out`)
    t.equal(notCompleted.length, 0, 'no waiter lost')

    const notified = await Promise.all(gateways.map((gateway) => gateway.metric('herald_gateway_longpoll_outcomes_total', 'outcome="notified"')))
    t.equal(notified.reduce((a, b) => a + b, 0), ORDERS, `each wait answered by a notification (per gateway: ${notified.join(', ')})`)
    t.same(processes.filter((herald) => herald.crashed).map((herald) => herald.name), [], 'no process crashed')

    // The services' pools honoured the schema in DATABASE_URL: the orders are in this run's schema.
    const handle = createDatabase({ url: TEST_DATABASE_URL, schema, max: 1 })
    t.teardown(() => handle.close())
    const { rows } = await handle.pool.query<{ count: string }>('select count(*) from orders where payment_status = $1', ['completed'])
    t.equal(Number(rows[0]!.count), ORDERS, `${ORDERS} completed orders in the run's own schema`)
  })

  t.test('SSE clients of a gateway killed with SIGKILL resume on another and see every version once, in order', async (t) => {
    const [doomed, ...survivors] = gateways as [HeraldProcess, HeraldProcess, HeraldProcess]
    const registrationIds = Array.from({ length: REGISTRATIONS }, (_, i) => `sys-reg-${i}`)
    const produced = new Map<string, number>()

    async function recordEvent (registrationId: string, version: number): Promise<string> {
      const body = version === EVENTS_PER_REGISTRATION
        ? { type: 'final' as const, status: 'APPROVED' as const, message: 'Registration approved' }
        : { type: 'stage' as const, stage: stageOfVersion(version), status: version % 2 === 1 ? 'started' as const : 'completed' as const, message: `event ${version}` }
      const answer = await producers[version % 2]!.registrationEvent(registrationId, body)
      if (answer.body === undefined) throw new Error(`${registrationId} v${version}: ${answer.status} ${answer.code}`)
      if (answer.body.registration.version !== version) throw new Error(`${registrationId}: the ingest gave v${answer.body.registration.version} to event ${version}`)
      produced.set(registrationId, version)
      return answer.body.subscribeToken
    }

    // Version 1 of each registration gives its subscribe token; every client starts on the doomed gateway
    // and moves to one of the other two (half to each) when it dies.
    const tokens = await Promise.all(registrationIds.map(async (id) => await recordEvent(id, 1)))
    // Clients come back only once every registration has moved on past what the dead gateway could have
    // sent, so each resume must replay events the client missed while it was away.
    let markMovedOn!: () => void
    const movedOn = new Promise<void>((resolve) => { markMovedOn = resolve })
    const followers = registrationIds.map((registrationId, i) => new RegistrationFollower({
      registrationId,
      token: tokens[i]!,
      gateways: [doomed.url, survivors[i % 2]!.url, survivors[(i + 1) % 2]!.url],
      lastVersion: EVENTS_PER_REGISTRATION,
      dispatcher,
      beforeReconnect: () => movedOn
    }))
    t.teardown(() => { for (const follower of followers) follower.stop() })
    await until(() => followers.every((follower) => follower.lastKept >= 1), 'every follower to have version 1 from the doomed gateway')

    // Events keep flowing on every registration; the gateway dies while they do. Producers wait at
    // HOLD_AT_VERSION until it is dead, so each follower has events both before and after the kill.
    let sent = 0
    let killedAt: Map<string, number> | undefined
    let markKilled!: () => void
    const killed = new Promise<void>((resolve) => { markKilled = resolve })
    const killAfter = Math.floor(REGISTRATIONS * (HOLD_AT_VERSION - 2) / 2)
    const production = Promise.all(registrationIds.map(async (id) => {
      for (let version = 2; version <= EVENTS_PER_REGISTRATION; version++) {
        if (version === HOLD_AT_VERSION) await killed
        await recordEvent(id, version)
        if (version === HOLD_AT_VERSION && registrationIds.every((other) => (produced.get(other) ?? 0) >= HOLD_AT_VERSION)) markMovedOn()
        if (++sent === killAfter) {
          killedAt = new Map(followers.map((follower) => [follower.registrationId, follower.lastKept]))
          doomed.kill().then(markKilled, markKilled)
        }
      }
    }))
    await production
    t.ok(killedAt !== undefined, `gateway-a killed with SIGKILL after ${killAfter} of ${REGISTRATIONS * (EVENTS_PER_REGISTRATION - 1)} events`)

    const deadline = setTimeout(() => { for (const follower of followers) follower.stop() }, 90_000)
    await Promise.all(followers.map((follower) => follower.done))
    clearTimeout(deadline)

    const expected = Array.from({ length: EVENTS_PER_REGISTRATION }, (_, i) => i + 1)
    const incomplete = followers.filter((follower) => follower.kept.join() !== expected.join())
    t.same(incomplete.map((f) => `${f.registrationId}: ${f.kept.join(',')}`), [], `each of ${REGISTRATIONS} clients kept versions 1..${EVENTS_PER_REGISTRATION} in order`)
    t.same(followers.flatMap((f) => f.gaps.map((gap) => `${f.registrationId}: ${gap.after} -> ${gap.got}`)), [], 'no update ever skipped a version')
    t.same(followers.flatMap((f) => f.mismatches.map((m) => `${f.registrationId} ${m}`)), [], 'each id carried its own version\'s update')
    t.same(followers.flatMap((f) => f.resets.map((r) => `${f.registrationId}: ${JSON.stringify(r)}`)), [], 'no client was reset: the missed events were replayed')
    t.ok(followers.every((f) => f.connections.length >= 2 && f.connections[0]!.gateway === doomed.url && f.connections.at(-1)!.gateway !== doomed.url),
      'every client started on gateway-a and ended on another gateway')
    t.ok(followers.every((f) => f.connections.slice(1).every((c) => c.lastEventId > 0)), 'each reconnect resumed from the last id the client had')
    const resumedFrom = followers.map((f) => f.connections[1]?.lastEventId ?? EVENTS_PER_REGISTRATION)
    t.ok(resumedFrom.every((version) => version < HOLD_AT_VERSION), `every client resumed behind the registration (from v${Math.min(...resumedFrom)}..v${Math.max(...resumedFrom)} with v${HOLD_AT_VERSION}+ published): the missed events came from the replay`)

    const duplicates = followers.reduce((sum, f) => sum + f.duplicates, 0)
    const reconnects = followers.reduce((sum, f) => sum + f.connections.length - 1, 0)
    const before = [...(killedAt?.values() ?? [])]
    t.comment(`SSE: ${REGISTRATIONS} clients, ${REGISTRATIONS * EVENTS_PER_REGISTRATION} events; at the kill clients had ` +
      `v${Math.min(...before)}..v${Math.max(...before)}; ${reconnects} reconnects, ${duplicates} raw duplicates dropped by id; ` +
      `connect failures: ${followers.reduce((sum, f) => sum + f.failures.length, 0)}`)
    t.same(survivors.filter((herald) => herald.crashed).map((herald) => herald.name), [], 'the surviving gateways did not crash')
    t.same(ingests.filter((herald) => herald.crashed).map((herald) => herald.name), [], 'the ingests did not crash')
  })
}
