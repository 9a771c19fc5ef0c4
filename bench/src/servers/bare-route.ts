// The floor for scenario 3: Fastify parsing the same JSON body and answering 200, nothing else.
import Fastify from 'fastify'

const port = Number(process.env.PORT ?? 3004)
const fastify = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' }, bodyLimit: 64 * 1024 })

fastify.post('/callback/:token', { schema: { body: { type: 'object' } } }, async () => ({ ResultCode: 0, ResultDesc: 'Accepted' }))
fastify.get('/readyz', async () => ({ ready: true }))

const close = (): void => { fastify.close().then(() => process.exit(0), () => process.exit(1)) }
process.once('SIGTERM', close)
process.once('SIGINT', close)
await fastify.listen({ port, host: '127.0.0.1' })
