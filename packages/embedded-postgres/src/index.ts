// An embedded Postgres (PGlite) served over the wire protocol, so the services' pg code is the same. Only the
// `pnpm start` launcher depends on this package: a service's production install carries no PGlite.
import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

export interface EmbeddedPostgres {
  url: string
  stop (): Promise<void>
}

/** Extended-protocol frontend messages: Parse, Bind, Describe, Execute, Close, Flush. A Sync ends the batch. */
const EXTENDED = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48])
const SYNC = 0x53

/**
 * PGlite is one backend. pglite-socket queues the connections' messages one by one and keeps a
 * connection's turn only while a transaction is open, so outside a transaction another connection's
 * Parse can run between this connection's Parse and Bind: the unnamed statement is replaced and the Bind
 * fails, or runs someone else's statement. This view of the database also keeps the turn from a
 * connection's first extended-protocol message until its Sync, which makes each batch atomic.
 */
function batchAtomic (db: PGlite): PGlite {
  let midBatch = false
  return new Proxy(db, {
    get (target, property, receiver) {
      if (property === 'isInTransaction') return () => midBatch || target.isInTransaction()
      if (property === 'execProtocolRawStream') {
        return (message: Uint8Array, options: unknown) => {
          const type = message[0] ?? 0
          if (EXTENDED.has(type)) midBatch = true
          else if (type === SYNC) midBatch = false
          return target.execProtocolRawStream(message, options as Parameters<PGlite['execProtocolRawStream']>[1])
        }
      }
      // Called to roll back after a connection left mid-transaction: it no longer holds the turn.
      if (property === 'exec') return (query: string, options?: Parameters<PGlite['exec']>[1]) => { midBatch = false; return target.exec(query, options) }
      const value = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

export async function startEmbeddedPostgres (options: { dataDir?: string, port?: number, maxConnections?: number } = {}): Promise<EmbeddedPostgres> {
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true })
  const db = await PGlite.create(options.dataDir)
  const server = new PGLiteSocketServer({
    db: batchAtomic(db),
    host: '127.0.0.1',
    port: options.port ?? 0,
    maxConnections: options.maxConnections ?? 64
  })
  await server.start()
  const port = (server as unknown as { port: number }).port
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async stop () {
      await server.stop()
      await db.close()
    }
  }
}
