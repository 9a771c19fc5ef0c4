// The durable pull feed: every committed event in commit order, paged by outbox cursor.
import type pg from 'pg'
import type { EventFeedItem, EventFeedResponse, StreamEvent } from '@herald/contracts'
import { CursorExpiredError, withDetails } from '@herald/service-kit'
import { backendBodyOf } from './backend-webhook.js'
import type { CommittedHorizon } from './horizon.js'

/** How long a page may wait for the events committed just before it to settle (usually a few ms). */
const FRESH_WAIT_MS = 500

export class EventFeed {
  readonly #pool: pg.Pool
  readonly #horizon: CommittedHorizon

  constructor (pool: pg.Pool, horizon: CommittedHorizon) {
    this.#pool = pool
    this.#horizon = horizon
  }

  /**
   * Events after `after` (from the oldest kept when omitted), up to the committed horizon, so a page
   * never skips an event that commits later with a lower id. A cursor before the highest id record
   * retention deleted may have lost events: 410, naming the oldest cursor to continue from.
   */
  async page (after: string | undefined, limit: number): Promise<EventFeedResponse> {
    const settled = await this.#horizon.settledIncludingNow(FRESH_WAIT_MS)
    const { rows: [retention] } = await this.#pool.query<{ deletedThrough: string }>(
      'select coalesce((select deleted_through from outbox_retention where id = 1), 0)::text as "deletedThrough"')
    const oldest = retention!.deletedThrough
    if (after !== undefined && BigInt(after) < BigInt(oldest)) {
      throw withDetails(
        new CursorExpiredError(`Cursor ${after} is past retention: events after it were deleted; the oldest cursor still available is ${oldest}`),
        { oldestCursor: oldest })
    }
    const from = after ?? oldest
    const { rows } = await this.#pool.query<{ id: string, payload: StreamEvent }>(
      'select id::text, payload from outbox where id > $1 and id <= $2 order by outbox.id limit $3', [from, settled, limit + 1])
    const page = rows.slice(0, limit)
    const events: EventFeedItem[] = page.map((row) => ({ cursor: row.id, ...backendBodyOf(row.payload) }))
    return { success: true, events, next: page.at(-1)?.id ?? from, hasMore: rows.length > limit }
  }
}
