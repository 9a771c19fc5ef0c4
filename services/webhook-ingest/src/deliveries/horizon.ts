// The committed horizon of the outbox: the highest id below which no transaction can still add a row.
import type pg from 'pg'

interface Candidate { top: string, snapshot: string }

/**
 * Outbox ids come from a sequence, taken before commit: id 11 can be visible while id 10's transaction
 * is still running, and a reader that moved its cursor past 11 would never see 10. A reader therefore
 * moves only up to a settled horizon: the highest visible id at some snapshot, once every transaction
 * running at that snapshot has ended (any row they add has a higher id or is visible by then; the writers
 * take their transaction id before drawing an outbox id). One candidate is kept until it settles, so the
 * horizon moves under constant load too: a poll interval or so behind the newest commit.
 *
 * "Ended" is judged by a later snapshot, not by the commit log: a transaction is marked committed a
 * moment before snapshots stop listing it as running, and in that moment its row is still invisible.
 * (Writers draw outbox ids in the statement that writes the state change, after their first write.)
 */
export class CommittedHorizon {
  readonly #pool: pg.Pool
  #candidate: Candidate | undefined
  #settled = '0'
  /** The highest id visible at the last read: what settles next. */
  #top = '0'
  #inflight: Promise<string> | undefined

  constructor (pool: pg.Pool) {
    this.#pool = pool
  }

  /** The highest outbox id that is safe to read up to now; concurrent callers share one query. */
  settledId (): Promise<string> {
    this.#inflight ??= this.#advance().finally(() => { this.#inflight = undefined })
    return this.#inflight
  }

  /**
   * Waits (up to `waitMs`) until everything committed before the call is below the horizon: a reader
   * that has just been answered by a write then sees it, even on a process that has only just started.
   */
  async settledIncludingNow (waitMs: number): Promise<string> {
    const deadline = Date.now() + waitMs
    let settled = await this.settledId()
    const wanted = this.#top
    while (BigInt(settled) < BigInt(wanted) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5))
      settled = await this.settledId()
    }
    return settled
  }

  async #advance (): Promise<string> {
    const { rows: [row] } = await this.#pool.query<{ top: string, snapshot: string, running: number, settled: boolean | null }>(
      `select coalesce((select max(id) from outbox), 0)::text as top, pg_current_snapshot()::text as snapshot,
        (select count(*)::int from pg_snapshot_xip(pg_current_snapshot())) as running,
        case when $1::text is null then null
          else not exists (select 1 from pg_snapshot_xip($1::text::pg_snapshot) x where not pg_visible_in_snapshot(x, pg_current_snapshot())) end as settled`,
      [this.#candidate?.snapshot ?? null]
    )
    const { top, snapshot, running, settled } = row!
    this.#top = top
    if (settled === true) this.#settle(this.#candidate!.top)
    if (running === 0) {
      // Nothing was running when the top was read: it is settled already.
      this.#settle(top)
      this.#candidate = undefined
    } else if (this.#candidate === undefined || settled === true) {
      this.#candidate = { top, snapshot }
    }
    return this.#settled
  }

  #settle (id: string): void {
    if (BigInt(id) > BigInt(this.#settled)) this.#settled = id
  }
}
