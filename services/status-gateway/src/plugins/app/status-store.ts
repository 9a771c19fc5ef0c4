// Wires the status store (Redis snapshot, else Postgres) into the app.
import fp from 'fastify-plugin'
import { StatusStore } from '../../status/status-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    statusStore: StatusStore
  }
}

export default fp(async (fastify) => {
  fastify.decorate('statusStore', new StatusStore({ db: fastify.db, redis: fastify.redis, layout: fastify.streamLayout, log: fastify.log }))
}, { name: 'gateway-status-store', dependencies: ['herald-database', 'herald-redis'] })
