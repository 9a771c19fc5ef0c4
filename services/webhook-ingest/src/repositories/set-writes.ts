// What the set-based writers share: column arrays for `unnest`, the outbox rows of a whole batch in one
// statement, handing what it stamped to the sink, and the stored answers of replayed webhook-ids.
import type pg from 'pg'
import type { StreamEvent } from '@herald/contracts'
import type { EventSink } from '../unit-of-work/group-commit.js'
import { pendingCte, run, waitingBeforeColumn, type Transaction, type UnstampedEvent } from './transaction.js'

/** Column arrays of one set-based statement, filled row by row. */
export function columns<K extends string> (names: readonly K[]): Record<K, unknown[]> & { push (row: Record<K, unknown>): void } {
  const arrays = Object.fromEntries(names.map((name) => [name, [] as unknown[]])) as Record<K, unknown[]>
  return Object.assign(arrays, { push (row: Record<K, unknown>) { for (const name of names) arrays[name].push(row[name]) } })
}

/** A CTE of a set-based statement over column arrays (`unnest`), one parameter per array. */
export interface SetCte {
  /** Its arrays, all of one length: its rows. */
  readonly arrays: readonly unknown[][]
  /** Its text, given the placeholders of its arrays in order. */
  readonly sql: (placeholders: readonly string[]) => string
  /** Kept when it has no rows (the statement's answer reads it). */
  readonly always?: boolean
}

const setStatements = new Map<string, string>()

/**
 * Runs one set-based statement made of the CTEs that have rows, then `select`. Its statements are planned
 * per call (a custom plan knows each array's length, where a generic one scans tables), and an empty CTE
 * still costs planning and executor nodes: leaving it out saves about a third of a lone callback's
 * statement. Each combination of CTEs is its own named statement, parsed once per connection.
 */
export async function runSet<R extends pg.QueryResultRow> (tx: Transaction, name: string, ctes: readonly SetCte[], select: string): Promise<R[]> {
  const present = ctes.filter((cte) => cte.always === true || (cte.arrays[0]?.length ?? 0) > 0)
  const key = `${name}_${ctes.reduce((mask, cte, i) => present.includes(cte) ? mask | (1 << i) : mask, 0).toString(36)}`
  let text = setStatements.get(key)
  if (text === undefined) {
    let next = 0
    text = `with ${present.map((cte) => cte.sql(cte.arrays.map(() => `$${++next}`))).join(',\n  ')}\n${select}`
    setStatements.set(key, text)
  }
  return await run<R>(tx, key, text, present.flatMap((cte) => cte.arrays))
}

/**
 * CTEs appending a batch's events to the outbox, pending, in the order given (`$ids`, `$versions`, `$payloads`
 * are parameter placeholders of text[], int[] and jsonb[]); each event's `eventId`, inside the payload
 * too, is its row's id. Ends the statement with `appendedEventsSelect`.
 */
const appendOutboxRowsCtes = (type: 'order' | 'registration', p: { ids: string, versions: string, payloads: string }): string =>
  `stamped as (
    select nextval(pg_get_serial_sequence('outbox', 'id')) as n, e.entity_id, e.version, e.payload
    from (select * from unnest(${p.ids}::text[], ${p.versions}::int[], ${p.payloads}::jsonb[]) with ordinality as e(entity_id, version, payload, ord) order by ord) as e
  ),
  appended as (
    insert into outbox (id, entity_type, entity_id, version, payload)
    select n, '${type}', entity_id, version, jsonb_set(payload, '{eventId}', to_jsonb(n::text)) from stamped
    returning id, entity_id, version
  ),
  ${pendingCte('stamped', `'${type}'`, 'entity_id')}`

/**
 * The statement's answer after `appendOutboxRowsCtes`: per appended row, its id and what of its entity
 * was still unpublished.
 */
export const appendedEventsSelect = (type: 'order' | 'registration'): string =>
  `select a.id::text as "eventId", a.entity_id as "entityId", a.version,
  ${waitingBeforeColumn(`'${type}'`, 'a.entity_id')}
from appended a`

export interface AppendedRow { eventId: string, entityId: string, version: number, waitingBefore: string[] }

/** The events of a batch in the order `appendOutboxRowsCtes` takes them: entity by entity, versions in order. */
const outboxParameters = (events: ReadonlyMap<string, readonly UnstampedEvent[]>): [string[], number[], string[]] => {
  const all = [...events.values()].flat()
  return [all.map((e) => e.entityId), all.map((e) => e.version), all.map((e) => JSON.stringify(e))]
}

/** The outbox CTEs of a batch's events for `runSet`, ending in `appended` (which `appendedEventsSelect` reads). */
export const outboxCte = (type: 'order' | 'registration', events: ReadonlyMap<string, readonly UnstampedEvent[]>): SetCte => ({
  arrays: outboxParameters(events),
  sql: ([ids, versions, payloads]) => appendOutboxRowsCtes(type, { ids: ids!, versions: versions!, payloads: payloads! }),
  always: true
})

/** Hands each entity's events, stamped with their outbox ids, to the sink (published after commit). */
export function addAppended (sink: EventSink, events: ReadonlyMap<string, readonly UnstampedEvent[]>, appended: readonly AppendedRow[]): void {
  const stamped = new Map(appended.map((a) => [`${a.entityId}\u0000${a.version}`, a]))
  for (const [entityId, list] of events) {
    if (list.length === 0) continue
    sink.add({
      events: list.map((event) => ({ ...event, eventId: stamped.get(`${entityId}\u0000${event.version}`)!.eventId }) as StreamEvent),
      waitingBefore: stamped.get(`${entityId}\u0000${list[0]!.version}`)!.waitingBefore
    })
  }
}

/** What each fresh webhook-id was answered (a replay answers it again). */
export const answeredCte = (arrays: unknown[][]): SetCte => ({
  arrays,
  sql: ([webhookId, response]) => `answered as (
    update webhook_receipts w set response = a.response from unnest(${webhookId}::text[], ${response}::jsonb[]) as a(webhook_id, response)
    where w.webhook_id = a.webhook_id
  )`
})

/** The claims of requests refused with 409: a retry is refused again, not answered as a replay. */
export const releasedCte = (webhookIds: string[]): SetCte => ({
  arrays: [webhookIds],
  sql: ([ids]) => `released as (delete from webhook_receipts where webhook_id = any(${ids}::text[]))`
})

export interface StoredReceiptRow<R> { webhookId: string, entityType: string, entityId: string, response: R }

/** What earlier commits answered to these webhook-ids (replays). */
export async function storedReceipts<R> (tx: Transaction, webhookIds: readonly string[]): Promise<Array<StoredReceiptRow<R>>> {
  if (webhookIds.length === 0) return []
  return await run<StoredReceiptRow<R>>(tx, 'herald_stored_receipts',
    `select webhook_id as "webhookId", entity_type as "entityType", entity_id as "entityId", response
    from webhook_receipts where webhook_id = any($1::text[])`, [webhookIds])
}
