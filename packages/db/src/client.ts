// A pg pool and its drizzle handle, optionally pinned to one Postgres schema (tests give each file its own).
import pg from 'pg'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import * as schema from './schema.js'

export interface DatabaseOptions {
  url: string
  /** Postgres schema to put first on the search_path; default `public`. */
  schema?: string
  max?: number
  /** Fail a query that cannot get a connection within this many ms (Postgres down answers fast). */
  connectionTimeoutMillis?: number
  statementTimeoutMillis?: number
  /**
   * Client-side bound on one query: the server's statement_timeout cannot fire when the server never
   * sees the query (a network partition). Default: the statement timeout plus two seconds.
   */
  queryTimeoutMillis?: number
  applicationName?: string
  /**
   * Commits do not wait for their WAL flush (`synchronous_commit = off`): only for a pool whose writes may
   * be lost in a Postgres crash without harm, as the outbox relay's published marks (a lost mark means
   * the row is published again, which the stream answers as a duplicate).
   */
  asynchronousCommit?: boolean
}

const QUERY_READ_TIMEOUT = 'Query read timeout'

/**
 * A pg Client that drops its connection when a query times out on the client side. The connection is
 * then in an unknown state (the query may still run, or the peer is gone): destroying it makes the pool
 * discard the client instead of handing a wedged one to the next request.
 */
class HeraldClient extends pg.Client {
  override query (...args: unknown[]): any {
    const result = (super.query as (...a: unknown[]) => unknown)(...args)
    if (result !== undefined && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(undefined, (err: unknown) => {
        if ((err as Error | undefined)?.message === QUERY_READ_TIMEOUT) this.#dropConnection()
      })
    }
    return result
  }

  #dropConnection (): void {
    (this as unknown as { connection?: { stream?: { destroy (): void } } }).connection?.stream?.destroy()
  }
}

export type HeraldDatabase = NodePgDatabase<typeof schema>

export interface DatabaseHandle {
  pool: pg.Pool
  db: HeraldDatabase
  schemaName: string
  close (): Promise<void>
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

export function createDatabase (options: DatabaseOptions): DatabaseHandle {
  const schemaName = options.schema ?? 'public'
  if (!SCHEMA_NAME.test(schemaName)) throw new Error(`invalid Postgres schema name: ${schemaName}`)
  const statementTimeout = options.statementTimeoutMillis ?? 10_000
  const pool = new pg.Pool({
    Client: HeraldClient,
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'herald',
    statement_timeout: statementTimeout,
    query_timeout: options.queryTimeoutMillis ?? statementTimeout + 2000,
    // A peer that vanished without a FIN is noticed by TCP keepalive, not only by the next query.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    options: schemaName === 'public' ? undefined : `-c search_path=${schemaName}`
  })
  // A client losing its connection (Postgres restarted, a proxy cut) must not crash the process. pg-pool
  // listens for 'error' on idle clients only; a checked-out client (inside a transaction) would emit an
  // unhandled 'error'. The query in flight still rejects, so its caller answers 503.
  pool.on('error', () => {})
  pool.on('connect', (client) => {
    client.on('error', () => {})
    // Queued before any query of the pool's: the first one runs after it. A connection string's own
    // `options` would override a startup option, so it is a SET.
    if (options.asynchronousCommit === true) client.query('set synchronous_commit = off').catch(() => {})
  })
  const db = drizzle(pool, { schema })
  let closed = false
  return {
    pool,
    db,
    schemaName,
    async close () {
      if (closed) return
      closed = true
      await pool.end()
    }
  }
}

/** True when Postgres answers a trivial query. */
export async function pingDatabase (pool: pg.Pool, timeoutMillis = 2000): Promise<boolean> {
  try {
    await pool.query({ text: 'select 1', query_timeout: timeoutMillis } as pg.QueryConfig)
    return true
  } catch {
    return false
  }
}
