// An embedded Postgres (PGlite) served over the wire protocol, so the services' pg code is the same.
import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

export interface EmbeddedPostgres {
  url: string
  stop (): Promise<void>
}

export async function startEmbeddedPostgres (options: { dataDir?: string, port?: number, maxConnections?: number } = {}): Promise<EmbeddedPostgres> {
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true })
  const db = await PGlite.create(options.dataDir)
  const server = new PGLiteSocketServer({
    db,
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
