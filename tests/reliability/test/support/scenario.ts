// The traffic every fault test runs: registrations fed stage by stage and followed over SSE, orders paid
// and waited on by long-poll, then the checks that nothing was lost, reordered or applied twice.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type pg from 'pg'
import type { Test } from 'tap'
import type { RedisClient } from '@herald/streams'
import type { HeraldStorage } from './processes.js'
import { until } from './processes.js'
import { range, streamVersions } from './storage.js'
import {
  MPESA_PATH, SseFollower, darajaCallback, deliver, deliverCallback, finalEvent, orderBody, stageEvent, waitForFinal
} from './traffic.js'

type Assert = Pick<Test, 'equal' | 'same' | 'ok'>

export interface TrafficOptions {
  ingests: () => string[]
  gateways: () => string[]
  registrations: number
  /** Events per registration, the last one the final verdict. */
  eventsEach: number
  orders: number
  /** Pause between two events of one registration. */
  pauseMs?: number
  /** Each order is also followed over SSE (`/api/orders/:id/events`), besides its long-poll. */
  followOrders?: boolean
  /** Each order is paid at a random moment within this long after it was registered (default 600 ms). */
  payWithinMs?: number
  label?: string
}

export interface RegistrationRun {
  id: string
  follower: SseFollower | null
  /** The subscribe token the first event answered. */
  subscribeToken?: string
  accepted: number
  attempts: number
  refused: Array<{ status: number, body: unknown }>
}

export interface OrderRun {
  id: string
  checkoutRequestId: string
  wait: Promise<{ versions: number[], final: any, requests: number, finalAt: number }> | null
  follower: SseFollower | null
  attempts: number
  refused: Array<{ status: number, body: unknown }>
}

/**
 * Runs the traffic; `sent` counts accepted producer calls as they happen so a test can inject its fault
 * in the middle. Resolves when every call was answered 2xx (producers retry as real ones do).
 */
export class Traffic {
  readonly options: TrafficOptions
  readonly registrations: RegistrationRun[]
  readonly orders: OrderRun[]
  sent = 0
  readonly #tag = randomBytes(3).toString('hex')

  constructor (options: TrafficOptions) {
    this.options = options
    const label = options.label ?? 'rel'
    this.registrations = range(options.registrations).map((n) => ({ id: `${label}-reg-${this.#tag}-${n}`, follower: null, accepted: 0, attempts: 0, refused: [] }))
    this.orders = range(options.orders).map((n) => ({ id: `${label}-ord-${this.#tag}-${n}`, checkoutRequestId: `ws_CO_${this.#tag}${n}`, wait: null, follower: null, attempts: 0, refused: [] }))
  }

  get expectedEvents (): number {
    return this.options.registrations * this.options.eventsEach
  }

  async run (): Promise<void> {
    await Promise.all([
      ...this.registrations.map((run) => this.#feedRegistration(run)),
      ...this.orders.map((run) => this.#payOrder(run))
    ])
  }

  async #feedRegistration (run: RegistrationRun): Promise<void> {
    const { eventsEach, ingests, gateways, pauseMs = 30 } = this.options
    for (const n of range(eventsEach)) {
      const body = n === eventsEach ? finalEvent() : stageEvent(n)
      const answer = await deliver(ingests, 'POST', `/v1/registrations/${run.id}/events`, body, `msg_${run.id}_${n}`)
      run.attempts += answer.attempts
      if (answer.status !== 200) {
        run.refused.push({ status: answer.status, body: answer.body })
        return
      }
      run.accepted++
      this.sent++
      if (run.follower === null) {
        run.subscribeToken = answer.body.subscribeToken
        // Subscribed with the token the first event answered; `lastEventId=0` replays from the start.
        const follower = new SseFollower(gateways, `/api/registrations/updates/stream?registrationId=${run.id}`, answer.body.subscribeToken)
        follower.lastEventId = '0'
        run.follower = follower.start()
      }
      await sleep(pauseMs)
    }
  }

  async #payOrder (run: OrderRun): Promise<void> {
    const { ingests, gateways } = this.options
    const registered = await deliver(ingests, 'PUT', `/v1/orders/${run.id}`, orderBody(run.checkoutRequestId), `msg_${run.id}_put`)
    run.attempts += registered.attempts
    if (registered.status !== 200) {
      run.refused.push({ status: registered.status, body: registered.body })
      return
    }
    this.sent++
    run.wait = waitForFinal(gateways, run.id, registered.body.subscribeToken)
    run.wait.catch(() => {})
    if (this.options.followOrders === true) {
      const follower = new SseFollower(gateways, `/api/orders/${run.id}/events`, registered.body.subscribeToken)
      follower.lastEventId = '0'
      run.follower = follower.start()
    }
    await sleep(200 + Math.floor(Math.random() * Math.max(0, (this.options.payWithinMs ?? 600) - 200)))
    const paid = await deliverCallback(ingests, MPESA_PATH, darajaCallback(run.checkoutRequestId, 0))
    run.attempts += paid.attempts
    if (paid.status !== 200) run.refused.push({ status: paid.status, body: paid.body })
    else this.sent++
  }

  /** Waits (generously) until every follower has the final version and every order wait has answered. */
  async settle (limitMs = 120_000): Promise<void> {
    const { eventsEach } = this.options
    try {
      // Settled when each client knows the last version (a reset's snapshot counts); verify() then says whether it came as updates.
      await until(() => this.registrations.every((run) => (run.follower?.version ?? 0) >= eventsEach), 'every SSE follower to know the last version', limitMs)
      const finals = await Promise.all(this.orders.map((run) => run.wait))
      // An order's SSE follower is settled when it knows the version its long-poll answered as final.
      await until(() => this.orders.every((run, i) => run.follower === null || run.follower.version >= finals[i]!.final.version), 'every order SSE follower to know the final version', limitMs)
    } catch (err) {
      await this.stop()
      const behind = this.registrations.filter((run) => (run.follower?.version ?? 0) < eventsEach).map((run) => ({
        id: run.id,
        accepted: run.accepted,
        refused: run.refused,
        versions: run.follower?.distinct.map((u) => u.version).join(','),
        connects: run.follower?.connects,
        failedConnects: run.follower?.failedConnects,
        resets: run.follower?.resets.length,
        closings: run.follower?.closings.map((c) => c.reason)
      }))
      const ordersBehind = this.orders.filter((run) => run.follower !== null && !/completed|failed|cancelled/.test(String(run.follower.distinct.at(-1)?.data?.paymentStatus))).map((run) => ({
        id: run.id, refused: run.refused, versions: run.follower?.distinct.map((u) => u.version).join(','), connects: run.follower?.connects, resets: run.follower?.resets.length
      }))
      throw new Error(`${(err as Error).message}; clients behind: ${JSON.stringify(behind)}; order streams behind: ${JSON.stringify(ordersBehind)}`)
    }
  }

  async stop (): Promise<void> {
    await Promise.all([...this.registrations, ...this.orders].map((run) => run.follower?.stop()))
  }

  /**
   * How long each event took from the ingest (its own timestamp) to a client: the registration updates
   * SSE clients got, and each order's payment as its long-poll answered it.
   */
  async deliveryDelays (): Promise<{ registrations: number[], orders: number[] }> {
    // Version 1 is left out: its client subscribes only once the ingest has answered it, and replays it.
    const registrations = this.registrations.flatMap((run) => run.follower?.distinct.filter((update) => update.version > 1).map((update) => update.receivedAt - Number(update.data?.timestamp)) ?? [])
    const orders = (await Promise.all(this.orders.map((run) => run.wait))).flatMap((result) => result === null ? [] : [result.finalAt - Date.parse(result.final.updatedAt)])
    return { registrations, orders }
  }

  /** The figures a test reports: events accepted vs delivered, duplicates, retries, reconnects. */
  figures (): Record<string, number> {
    const followers = this.registrations.map((run) => run.follower).filter((f): f is SseFollower => f !== null)
    return {
      registrationEventsAccepted: this.registrations.reduce((n, run) => n + run.accepted, 0),
      registrationEventsDeliveredDistinct: followers.reduce((n, f) => n + f.distinct.length, 0),
      sseDuplicatesDroppedById: followers.reduce((n, f) => n + f.duplicates, 0),
      sseReconnects: followers.reduce((n, f) => n + Math.max(0, f.connects - 1), 0),
      sseResets: followers.reduce((n, f) => n + f.resets.length, 0),
      ordersPaid: this.orders.length,
      producerAttempts: this.registrations.reduce((n, run) => n + run.attempts, 0) + this.orders.reduce((n, run) => n + run.attempts, 0)
    }
  }

  /**
   * Nothing lost, nothing reordered, nothing applied twice: Postgres holds exactly the events sent (one
   * per webhook-id), the stream holds each version once and in order, each follower saw 1..n in order
   * with no id carrying two different payloads, and each long-poll saw non-decreasing versions.
   */
  async verify (t: Assert, pool: pg.Pool, redis: RedisClient, storage: HeraldStorage, shards = 1): Promise<void> {
    const { eventsEach } = this.options
    for (const run of this.registrations) {
      t.same(run.refused, [], `${run.id}: every event was accepted`)
      const { rows: [row] } = await pool.query('select version, status from registrations where id = $1', [run.id])
      t.equal(row?.version, eventsEach, `${run.id}: Postgres applied each event once`)
      const { rows: [events] } = await pool.query('select count(*)::int as n, count(distinct version)::int as versions from registration_events where registration_id = $1', [run.id])
      t.same(events, { n: eventsEach, versions: eventsEach }, `${run.id}: one recorded event per version`)
      const inStream = await streamVersions(redis, storage, 'registration', run.id, shards)
      t.same(inStream.map((e) => e.version), range(eventsEach), `${run.id}: the stream holds versions 1..${eventsEach} once each, in order`)
      const follower = run.follower!
      t.same(follower.distinct.map((u) => u.version), range(eventsEach), `${run.id}: the client saw 1..${eventsEach} in order, no gap`)
      t.equal(follower.conflicting, 0, `${run.id}: no id reached the client as two different events`)
      t.equal(follower.distinct.at(-1)?.data?.status, 'APPROVED', `${run.id}: the client saw the verdict`)
    }
    for (const run of this.orders) {
      t.same(run.refused, [], `${run.id}: order and callback accepted`)
      const result = await run.wait!
      t.equal(result.final.paymentStatus, 'completed', `${run.id}: the long-poll answered the payment`)
      t.ok(result.versions.every((v, i) => i === 0 || v >= result.versions[i - 1]!), `${run.id}: long-poll versions never went back`)
      const { rows: [row] } = await pool.query('select version, payment_status from orders where id = $1', [run.id])
      t.equal(row?.payment_status, 'completed', `${run.id}: Postgres has it paid`)
      const inStream = await streamVersions(redis, storage, 'order', run.id, shards)
      t.same(inStream.map((e) => e.version), range(row?.version ?? 0), `${run.id}: the stream holds each order version once, in order`)
    }
  }
}
