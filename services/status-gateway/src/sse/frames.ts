// The SSE wire format: what a stream follows and the bytes of each message.
import { registrationUpdateOf, type StreamEvent } from '@herald/contracts'
import { orderForReader } from '../orders/order-view.js'

/**
 * What one stream follows. Per-entity feeds carry `id: <version>`; the admin feeds (every registration,
 * every order) `id: <entityId>:<version>`.
 */
export type SseFeed =
  | { kind: 'order', entityId: string, showCustomer: boolean }
  | { kind: 'registration', entityId: string }
  | { kind: 'registrations' }
  | { kind: 'orders' }

/** The admin feeds mix many entities: no per-client cursor to replay from, no per-entity version order. */
export function isAdminFeed (feed: SseFeed): feed is { kind: 'registrations' } | { kind: 'orders' } {
  return feed.kind === 'registrations' || feed.kind === 'orders'
}

/** The index key of a feed: what `publish` looks events up by. */
export function feedKey (feed: SseFeed): string {
  return isAdminFeed(feed) ? feed.kind : `${feed.kind}:${feed.entityId}`
}

/** Only ids Herald built go on an `id:` line: entity ids are validated, versions are integers. */
const SAFE_ID = /^[A-Za-z0-9_.:-]{1,160}$/

export function frame (data: unknown, id?: string, retryMs?: number): string {
  let text = ''
  if (id !== undefined && SAFE_ID.test(id)) text += `id: ${id}\n`
  if (retryMs !== undefined) text += `retry: ${Math.max(0, Math.trunc(retryMs))}\n`
  // JSON.stringify escapes CR and LF inside strings: the payload is always exactly one data line.
  return `${text}data: ${JSON.stringify(data)}\n\n`
}

/** The update frame of an event for one feed; cached per event while it fans out. */
export class EventFrames {
  readonly event: StreamEvent
  #withCustomer: string | undefined
  #withoutCustomer: string | undefined
  #entity: string | undefined
  #adminFeed: string | undefined

  constructor (event: StreamEvent) {
    this.event = event
  }

  for (feed: SseFeed): string {
    const event = this.event
    if (event.entityType === 'order') {
      const timestamp = Date.parse(event.occurredAt)
      // The admin feed is read with the admin token: customer details included.
      if (feed.kind === 'orders') return (this.#adminFeed ??= frame({ type: 'update', data: event.order, timestamp }, `${event.entityId}:${event.version}`))
      if (feed.kind !== 'order') return ''
      if (feed.showCustomer) return (this.#withCustomer ??= frame({ type: 'update', data: event.order, timestamp }, String(event.version)))
      return (this.#withoutCustomer ??= frame({ type: 'update', data: orderForReader(event.order, false), timestamp }, String(event.version)))
    }
    if (feed.kind === 'registrations') return (this.#adminFeed ??= frame(this.#registrationUpdate(), `${event.entityId}:${event.version}`))
    if (feed.kind !== 'registration') return ''
    return (this.#entity ??= frame(this.#registrationUpdate(), String(event.version)))
  }

  /** The old design's update message: PENDING stages and the verdict, epoch-ms timestamps. */
  #registrationUpdate (): unknown {
    const data = registrationUpdateOf((this.event as Extract<StreamEvent, { entityType: 'registration' }>).update)
    return { type: 'update', data, timestamp: data.timestamp }
  }
}
