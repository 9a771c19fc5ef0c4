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
  applicationName?: string
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
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'herald',
    statement_timeout: options.statementTimeoutMillis ?? 10_000,
    options: schemaName === 'public' ? undefined : `-c search_path=${schemaName}`
  })
  // An idle client losing its connection (Postgres restarted) must not crash the process.
  pool.on('error', () => {})
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
export async function pingDatabase (pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('select 1')
    return true
  } catch {
    return false
  }
}
