// Reads one shard's stream through this replica's consumer group and hands each event to the dispatcher.
import type { FastifyBaseLogger } from 'fastify'
import type { StreamEvent } from '@herald/contracts'
import { parseStreamEntries, parseStreamEvent, readGroups, type RedisClient } from '@herald/streams'

export interface StreamConsumerOptions {
  shard: number
  streamKey: string
  /** This replica's consumer group, `gw:<instance id>`. */
  group: string
  consumer: string
  /** Opens the reader's own connection (`maxRetriesPerRequest: null`, no offline queue). */
  connect: () => RedisClient
  blockMs: number
  count: number
  /** Called synchronously for each event, in stream order; must not wait on any client. */
  dispatch: (event: StreamEvent) => void
  log: FastifyBaseLogger
}

/** How long past BLOCK a read may take before the watchdog assumes the connection is silently dead. */
const WATCHDOG_MARGIN_MS = 3000
const MAX_BACKOFF_MS = 2000

type XReadGroupReply = Array<[string, Array<[string, string[]]>]> | null

function isNoGroup (err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOGROUP')
}

/**
 * One blocking XREADGROUP loop on one dedicated connection. The group is created at `$` on start, and
 * re-created from the last id this consumer saw when Redis answers NOGROUP (restarted without
 * persistence, or the group was destroyed). Entries are acknowledged after dispatch.
 *
 * ioredis re-sends a blocking read that a reconnect interrupted, and a half-open TCP connection never
 * answers at all: a watchdog throws away the connection when a read outlives BLOCK plus a margin.
 */
export class StreamConsumer {
  readonly shard: number
  readonly #options: StreamConsumerOptions
  readonly #log: FastifyBaseLogger
  #reader: RedisClient | null = null
  #closing = false
  #loop: Promise<void> | null = null
  #groupReady = false
  /** The last entry id delivered to this group: where a re-created group resumes. */
  #lastId: string | null = null
  /**
   * Where to read this consumer's pending entries (delivered, never acknowledged) from; '' once drained.
   * They come from an earlier process of this instance, or from a read whose answer was lost with its
   * connection: Redis counts those as delivered, so '>' would never return them.
   */
  #pendingCursor = '0'
  #watchdog: NodeJS.Timeout | undefined
  /** Rejects the read in flight: ioredis may never settle it once its connection is thrown away. */
  #abandonRead: ((reason: Error) => void) | undefined
  #sleepTimer: NodeJS.Timeout | undefined
  #wake: (() => void) | undefined
  #failures = 0
  #markReading!: () => void
  /** Settles once the group exists and the first read is under way. */
  readonly reading: Promise<void> = new Promise((resolve) => { this.#markReading = resolve })

  constructor (options: StreamConsumerOptions) {
    this.shard = options.shard
    this.#options = options
    this.#log = options.log.child({ component: 'stream-consumer', shard: options.shard })
  }

  /** True while the reader connection is up. */
  get connected (): boolean {
    return this.#reader?.status === 'ready'
  }

  start (): void {
    if (this.#loop !== null || this.#closing) return
    this.#reader = this.#open()
    this.#loop = this.#run()
  }

  async close (): Promise<void> {
    if (this.#closing) {
      await this.#loop
      return
    }
    this.#closing = true
    clearTimeout(this.#watchdog)
    clearTimeout(this.#sleepTimer)
    this.#wake?.()
    // The read in flight is abandoned here: disconnecting a reconnecting client never settles it.
    this.#abandonRead?.(new Error('stream consumer closing'))
    this.#reader?.disconnect()
    await this.#loop
    this.#reader = null
  }

  #open (): RedisClient {
    const reader = this.#options.connect()
    reader.on('error', (err: Error) => {
      if (this.#failures === 0) this.#log.warn({ err }, 'stream reader connection error')
    })
    return reader
  }

  /** Throws the current connection away (rejecting its pending read) and opens a fresh one. */
  #replaceReader (): void {
    this.#pendingCursor = '0'
    const old = this.#reader
    this.#reader = this.#open()
    old?.disconnect()
  }

  async #run (): Promise<void> {
    while (!this.#closing) {
      const reader = this.#reader!
      try {
        if (reader.status !== 'ready') {
          await this.#sleep(100)
          continue
        }
        if (!this.#groupReady) await this.#ensureGroup(reader)
        const draining = this.#pendingCursor !== ''
        const reply = await this.#read(reader, draining ? this.#pendingCursor : '>')
        const batch = reply?.[0]?.[1] ?? []
        if (draining && batch.length === 0) this.#pendingCursor = ''
        if (batch.length > 0) await this.#handle(reader, batch, draining)
        if (this.#failures > 0) this.#log.info('stream reader recovered')
        this.#failures = 0
      } catch (err) {
        if (this.#closing) break
        if (isNoGroup(err)) {
          this.#log.warn({ lastId: this.#lastId }, 'consumer group is gone; re-creating it from the last id seen')
          this.#groupReady = false
          continue
        }
        // The failed read may have been delivered before its answer was lost: read the pending entries
        // again first. Re-dispatching is harmless (clients and waiters compare versions).
        this.#pendingCursor = '0'
        this.#failures++
        if (this.#failures === 1) this.#log.warn({ err }, 'stream read failed; retrying')
        await this.#sleep(Math.min(50 * 2 ** this.#failures, MAX_BACKOFF_MS))
      }
    }
  }

  async #ensureGroup (reader: RedisClient): Promise<void> {
    const { streamKey, group } = this.#options
    try {
      await reader.xgroup('CREATE', streamKey, group, this.#lastId ?? '$', 'MKSTREAM')
      this.#log.info({ group, from: this.#lastId ?? '$' }, 'consumer group created')
    } catch (err) {
      if (!(err instanceof Error && err.message.includes('BUSYGROUP'))) throw err
    }
    if (this.#lastId === null) {
      // Remember where the group starts, so a group lost before the first event resumes without a gap.
      const own = (await readGroups(reader, streamKey)).find((info) => info.name === group)
      if (own !== undefined) this.#lastId = own.lastDeliveredId
    }
    this.#groupReady = true
    this.#markReading()
  }

  /**
   * One blocking read, given up at BLOCK plus a margin. The watchdog rejects the read itself rather than
   * waiting for the connection to reject it: a read in flight when the connection dropped sits in ioredis'
   * queue of commands to re-send on reconnect, and `disconnect()` on a client that is still reconnecting
   * (or between connect and ready) settles nothing in that queue, so the loop would wait on it for good.
   */
  async #read (reader: RedisClient, id: string): Promise<XReadGroupReply> {
    const { streamKey, group, consumer, count, blockMs } = this.#options
    return await this.#guarded(reader, 'XREADGROUP', blockMs + WATCHDOG_MARGIN_MS,
      reader.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', streamKey, id) as Promise<XReadGroupReply>)
  }

  /**
   * Waits for a command of the loop, given up at `deadlineMs`: then the connection is assumed silently
   * dead and replaced. Every command the loop awaits goes through here (the read, and the acknowledgement
   * after it: an XACK whose answer is lost would otherwise hold the loop for good).
   */
  async #guarded<T> (reader: RedisClient, command: string, deadlineMs: number, pending: Promise<T>): Promise<T> {
    const abandoned = new Promise<never>((_resolve, reject) => { this.#abandonRead = reject })
    this.#watchdog = setTimeout(() => {
      this.#log.warn({ command, deadlineMs, status: reader.status }, 'a stream command outlived its deadline; reconnecting the reader')
      this.#abandonRead?.(new Error(`${command} gave no answer within ${deadlineMs} ms`))
      this.#replaceReader()
    }, deadlineMs)
    try {
      return await Promise.race([pending, abandoned])
    } finally {
      clearTimeout(this.#watchdog)
      this.#abandonRead = undefined
    }
  }

  async #handle (reader: RedisClient, batch: Array<[string, string[]]>, draining: boolean): Promise<void> {
    for (const entry of parseStreamEntries(batch)) {
      const event = parseStreamEvent(entry.json)
      if (event === null) {
        this.#log.warn({ streamId: entry.streamId }, 'skipping a stream entry that is not a valid event')
        continue
      }
      try {
        this.#options.dispatch(event)
      } catch (err) {
        this.#log.error({ err, streamId: entry.streamId }, 'dispatching an event failed')
      }
    }
    const ids = batch.map(([id]) => id)
    const last = ids[ids.length - 1]!
    if (draining) this.#pendingCursor = last
    if (this.#lastId === null || compareStreamIds(last, this.#lastId) > 0) this.#lastId = last
    // The watchdog may have swapped connections meanwhile: acknowledge on the current one.
    const current = this.#reader ?? reader
    await this.#guarded(current, 'XACK', WATCHDOG_MARGIN_MS, current.xack(this.#options.streamKey, this.#options.group, ...ids))
  }

  #sleep (ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve
      this.#sleepTimer = setTimeout(resolve, ms)
    })
  }
}

export function compareStreamIds (a: string, b: string): number {
  const [aMs = '0', aSeq = '0'] = a.split('-')
  const [bMs = '0', bSeq = '0'] = b.split('-')
  const ms = BigInt(aMs) - BigInt(bMs)
  if (ms !== 0n) return ms > 0n ? 1 : -1
  const seq = BigInt(aSeq) - BigInt(bSeq)
  return seq === 0n ? 0 : seq > 0n ? 1 : -1
}
