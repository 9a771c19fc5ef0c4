// Group commit: the writes that arrive while commits are in flight share the next transaction, so one
// WAL flush (and one begin/commit) carries many requests. A 2xx still means durable: a write's promise
// settles only after its own batch committed, and the batch's events are handed to the relay then.
import type pg from 'pg'
import { isDatabaseUnavailable } from '@herald/db'
import { currentCause, inRequestContext, type RequestCause } from '@herald/service-kit'
import type { CommittedEvents } from '../outbox/relay.js'
import { ingestErrorOf, type Transaction } from '../repositories/transaction.js'

/** Where a write puts the events it appended, per entity in version order; published after commit. */
export interface EventSink {
  add (committed: CommittedEvents): void
}

/**
 * Writes of one kind done together, set-based: one statement for all the batch's rows instead of one
 * per request. Answers one result per input, in order. Throwing fails the group: the batch is then
 * retried with every input of the group written alone, so the failure lands on its own request.
 */
export interface SetWriter<I, T> {
  readonly name: string
  /** `causes[i]` is the request that submitted `inputs[i]`: the events it causes carry its id (and trace). */
  write (tx: Transaction, inputs: readonly I[], events: EventSink, causes: ReadonlyArray<RequestCause | undefined>): Promise<T[]>
}

/** One request's own statements, run in the shared transaction; throwing fails only this request. */
export type SingleWrite<T> = (tx: Transaction, events: EventSink) => Promise<T>

export interface GroupCommitOptions {
  pool: pg.Pool
  /** Most writes in one transaction (`INGEST_BATCH_MAX`). */
  batchMax: number
  /** Most transactions in flight at once (`INGEST_BATCHES_IN_FLIGHT`); others wait to join the next. */
  batchesInFlight: number
  /** Called once per commit with what it wrote (the relay publishes it). */
  onCommitted: (committed: CommittedEvents[]) => void
  /** Per commit: rows in it and how long each waited before its batch began. */
  onBatch?: (batch: { size: number, waitedSeconds: number[] }) => void
}

interface Pending {
  writer?: SetWriter<unknown, unknown>
  input?: unknown
  single?: SingleWrite<unknown>
  /**
   * The request that queued the write, and its span when traced: its events carry them, whichever request
   * started the batch (the batch runs in that request's async context).
   */
  cause: RequestCause | undefined
  queuedAt: number
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/** A failure attributable to one pending write: the batch is retried without it. */
class WriteFailed extends Error {
  constructor (readonly pending: Pending, readonly reason: unknown) { super('write failed') }
}

/** A set writer failed as a whole: its writes are retried alone, so the failure lands on its own request. */
class SetFailed extends Error {
  constructor (readonly members: Pending[], readonly reason: unknown) { super('set write failed') }
}

/** Deadlock or serialization failure between two batches: Postgres rolled one back, it runs again. */
const isRetryable = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code
  return code === '40P01' || code === '40001'
}

const MAX_RETRIES = 5

/**
 * How a batch's transaction begins (one round trip). Its statements are prepared once per connection and
 * run with their generic plan: planned per call for its arrays' lengths, a lone callback's two statements
 * took 0.22-0.24 ms each to plan, longer than they ran. A generic plan is made once, from the statistics
 * of that moment, and on a young table it scanned whole tables for good: so the batch's statements may
 * not (sequential scans, hash and merge joins off). Every one of them finds its rows by an index, for
 * batches of at most `INGEST_BATCH_MAX` rows. `local`: the settings end with the transaction.
 */
const BEGIN_BATCH = 'begin; set local plan_cache_mode = force_generic_plan; set local enable_seqscan = off; ' +
  'set local enable_hashjoin = off; set local enable_mergejoin = off'

export class GroupCommit {
  readonly #options: GroupCommitOptions
  readonly #queue: Pending[] = []
  #inFlight = 0
  readonly #running = new Set<Promise<void>>()

  constructor (options: GroupCommitOptions) {
    if (!Number.isInteger(options.batchMax) || options.batchMax < 1) throw new Error('batchMax must be a positive integer')
    if (!Number.isInteger(options.batchesInFlight) || options.batchesInFlight < 1) throw new Error('batchesInFlight must be a positive integer')
    this.#options = options
  }

  /** Queues a set-based write; settles after its batch committed (or failed). */
  submitTo<I, T> (writer: SetWriter<I, T>, input: I): Promise<T> {
    return this.#enqueue({ writer: writer as SetWriter<unknown, unknown>, input }) as Promise<T>
  }

  /** Queues a request's own statements; settles after its batch committed (or failed). */
  submit<T> (write: SingleWrite<T>): Promise<T> {
    return this.#enqueue({ single: write as SingleWrite<unknown> }) as Promise<T>
  }

  /** Writes waiting for a batch to begin. */
  get queued (): number {
    return this.#queue.length
  }

  /** Waits for the batches in flight (shutdown). */
  async drain (): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running])
  }

  #enqueue (write: Pick<Pending, 'writer' | 'input' | 'single'>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...write, cause: currentCause(), queuedAt: performance.now(), resolve, reject })
      this.#pump()
    })
  }

  /** A lone write starts a batch at once; while the in-flight limit is reached, writes gather for the next. */
  #pump (): void {
    while (this.#inFlight < this.#options.batchesInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.batchMax)
      this.#inFlight++
      const run = this.#run(batch).finally(() => {
        this.#inFlight--
        this.#running.delete(run)
        this.#pump()
      })
      this.#running.add(run)
    }
  }

  async #run (batch: Pending[]): Promise<void> {
    const started = performance.now()
    this.#options.onBatch?.({ size: batch.length, waitedSeconds: batch.map((p) => (started - p.queuedAt) / 1000) })
    let remaining = batch
    /** Writes whose set failed as a whole: written alone from now on. */
    const alone = new Set<Pending>()
    let retries = 0
    while (remaining.length > 0) {
      try {
        const { results, committed } = await this.#attempt(remaining, alone)
        remaining.forEach((pending, i) => pending.resolve(results[i]))
        if (committed.length > 0) this.#options.onCommitted(committed)
        return
      } catch (err) {
        if (err instanceof WriteFailed && !isDatabaseUnavailable(err.reason) && !isRetryable(err.reason)) {
          err.pending.reject(ingestErrorOf(err.reason))
          remaining = remaining.filter((pending) => pending !== err.pending)
        } else if (err instanceof SetFailed && !isDatabaseUnavailable(err.reason) && !isRetryable(err.reason)) {
          if (err.members.length === 1) {
            err.members[0]!.reject(ingestErrorOf(err.reason))
            remaining = remaining.filter((pending) => pending !== err.members[0])
          } else {
            for (const member of err.members) alone.add(member)
          }
        } else {
          const reason = err instanceof WriteFailed || err instanceof SetFailed ? err.reason : err
          if (isRetryable(reason) && retries++ < MAX_RETRIES) continue
          // Postgres unreachable (or a failure nobody can be singled out for): nothing was written.
          const failure = ingestErrorOf(reason)
          for (const pending of remaining) pending.reject(failure)
          return
        }
      }
    }
  }

  /** One transaction over the batch: set writers first (grouped, in arrival order), then single writes. */
  async #attempt (batch: Pending[], alone: Set<Pending>): Promise<{ results: unknown[], committed: CommittedEvents[] }> {
    const committed: CommittedEvents[] = []
    const sink: EventSink = { add: (c) => { if (c.events.length > 0) committed.push(c) } }
    const results = new Array<unknown>(batch.length)
    const client = await this.#options.pool.connect()
    let discard: Error | undefined
    try {
      await client.query(BEGIN_BATCH)
      const groups = new Map<SetWriter<unknown, unknown>, number[]>()
      batch.forEach((pending, i) => {
        if (pending.writer === undefined || alone.has(pending)) return
        const list = groups.get(pending.writer)
        if (list === undefined) groups.set(pending.writer, [i])
        else list.push(i)
      })
      for (const [writer, indexes] of groups) {
        let answers: unknown[]
        try {
          answers = await writer.write(client, indexes.map((i) => batch[i]!.input), sink, indexes.map((i) => batch[i]!.cause))
        } catch (err) {
          throw new SetFailed(indexes.map((i) => batch[i]!), err)
        }
        indexes.forEach((batchIndex, i) => { results[batchIndex] = answers[i] })
      }
      for (const [i, pending] of batch.entries()) {
        if (pending.writer !== undefined && !alone.has(pending)) continue
        try {
          results[i] = await inRequestContext(pending.cause, async () => pending.single !== undefined
            ? await pending.single(client, sink)
            : (await pending.writer!.write(client, [pending.input], sink, [pending.cause]))[0])
        } catch (err) {
          throw new WriteFailed(pending, err)
        }
      }
      await client.query('commit')
      return { results, committed }
    } catch (err) {
      // A connection whose rollback failed is in an unknown state: the pool must discard it.
      await client.query('rollback').catch((rollbackErr: Error) => { discard = rollbackErr })
      throw err
    } finally {
      client.release(discard)
    }
  }
}
