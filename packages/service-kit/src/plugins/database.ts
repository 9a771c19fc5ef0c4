// The service's Postgres pool and drizzle handle, with a readiness check.
import fp from 'fastify-plugin'
import { createDatabase, pingDatabase, type HeraldDatabase } from '@herald/db'
import type pg from 'pg'

export interface DatabasePluginOptions {
  url: string
  schema?: string
  max?: number
  applicationName: string
  /** Whether /readyz fails while Postgres is down (see ReadinessOptions); default true. */
  requiredForReadiness?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    db: HeraldDatabase
    pgPool: pg.Pool
  }
}

export default fp<DatabasePluginOptions>(async (fastify, opts) => {
  const handle = createDatabase({ url: opts.url, schema: opts.schema, max: opts.max, applicationName: opts.applicationName, connectionTimeoutMillis: 2000 })
  fastify.decorate('db', handle.db)
  fastify.decorate('pgPool', handle.pool)
  fastify.readiness.add('postgres', () => pingDatabase(handle.pool), { required: opts.requiredForReadiness ?? true })
  fastify.addHook('onClose', async () => handle.close())
}, { name: 'herald-database', dependencies: ['herald-health'] })
