// The OpenAPI document, generated from the route schemas, at GET /openapi.json.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'

export default fp<{ title: string, description: string }>(async (fastify, opts) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: opts.title, description: opts.description, version: '0.1.0' }
    }
  })
  fastify.get('/openapi.json', { schema: { hide: true }, logLevel: 'warn' }, async () => fastify.swagger())
}, { name: 'herald-openapi' })
