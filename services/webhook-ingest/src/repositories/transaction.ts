// What every write of the ingest shares: one transaction, advisory locks on references, outbox rows, receipts.
import { createHash } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import type { StreamEvent } from '@herald/contracts'
import { webhookReceipts, type HeraldDatabase } from '@herald/db'
import { ConflictError, UnavailableError } from '@herald/service-kit'

export type Transaction = Parameters<Parameters<HeraldDatabase['transaction']>[0]>[0]

const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])

/** True for errors that mean "Postgres is not reachable right now" rather than a bad query. */
export function isDatabaseUnavailable (err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 5) return false
  const { code, message, cause, errors } = err as { code?: unknown, message?: unknown, cause?: unknown, errors?: unknown }
  if (typeof code === 'string' && (UNAVAILABLE_ERRNO.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300')) return true
  if (typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated|connection timeout|Query read timeout/i.test(message)) return true
  if (Array.isArray(errors) && errors.some((e) => isDatabaseUnavailable(e, depth + 1))) return true
  return isDatabaseUnavailable(cause, depth + 1)
}

function uniqueViolation (err: unknown, depth = 0): string | null {
  if (err === null || typeof err !== 'object' || depth > 5) return null
  const { code, constraint, cause } = err as { code?: unknown, constraint?: unknown, cause?: unknown }
  if (code === '23505') return typeof constraint === 'string' ? constraint : ''
  return uniqueViolation(cause, depth + 1)
}

/**
 * Runs `work` in one transaction. Postgres unreachable becomes 503 (nothing was written, the caller may
 * retry); a provider reference already used by another order becomes 409.
 */
export async function inTransaction<T> (db: HeraldDatabase, work: (tx: Transaction) => Promise<T>): Promise<T> {
  try {
    return await db.transaction(work)
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw new UnavailableError('Database unavailable, nothing was recorded; retry later')
    const constraint = uniqueViolation(err)
    if (constraint !== null && constraint.startsWith('orders_')) {
      throw new ConflictError(`A provider reference of this order already belongs to another order (${constraint})`)
    }
    throw err
  }
}

/**
 * Takes a transaction-scoped advisory lock per reference, in one global order (so two transactions never
 * wait on each other in a cycle). A callback and the registration of its order share at least one.
 */
export async function lockReferences (tx: Transaction, names: readonly string[]): Promise<void> {
  const keys = [...new Set(names.map((name) => BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(name).digest('hex').slice(0, 16)}`))))]
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  for (const key of keys) await tx.execute(sql`select pg_advisory_xact_lock(${key.toString()}::bigint)`)
}

export type UnstampedEvent = StreamEvent extends infer E ? E extends StreamEvent ? Omit<E, 'eventId'> : never : never

/** Appends an event to the outbox in the caller's transaction; its `eventId` is the new row's id. */
export async function appendOutbox (tx: Transaction, event: UnstampedEvent): Promise<StreamEvent> {
  const { rows } = await tx.execute<{ id: string }>(sql`
    insert into outbox (id, entity_type, entity_id, version, payload)
    select n, ${event.entityType}, ${event.entityId}, ${event.version}, jsonb_set(${JSON.stringify(event)}::jsonb, '{eventId}', to_jsonb(n::text))
    from (select nextval(pg_get_serial_sequence('outbox', 'id')) as n) s
    returning id::text as id`)
  return { ...event, eventId: rows[0]!.id } as StreamEvent
}

export type ReceiptClaim =
  | { fresh: true }
  | { fresh: false, entityType: string, entityId: string, response: unknown }

/**
 * Claims a Standard Webhooks `webhook-id` for this transaction. A concurrent claim of the same id waits
 * for this one to commit and then sees it as a replay; a rollback releases it.
 */
export async function claimWebhookId (tx: Transaction, webhookId: string, entityType: string, entityId: string): Promise<ReceiptClaim> {
  const claimed = await tx.insert(webhookReceipts)
    .values({ webhookId, entityType, entityId, response: {} })
    .onConflictDoNothing()
    .returning({ webhookId: webhookReceipts.webhookId })
  if (claimed.length > 0) return { fresh: true }
  const [stored] = await tx.select().from(webhookReceipts).where(eq(webhookReceipts.webhookId, webhookId))
  return { fresh: false, entityType: stored!.entityType, entityId: stored!.entityId, response: stored!.response }
}

export async function storeWebhookResponse (tx: Transaction, webhookId: string, response: unknown): Promise<void> {
  await tx.update(webhookReceipts).set({ response }).where(eq(webhookReceipts.webhookId, webhookId))
}
