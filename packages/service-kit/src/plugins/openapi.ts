// The OpenAPI document, generated from the route schemas, at GET /openapi.json, and a reference page
// over it at GET /documentation.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export default fp<{ title: string, description: string }>(async (fastify, opts) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: opts.title, description: opts.description, version: '0.1.0' }
    }
  })
  fastify.get('/openapi.json', { schema: { hide: true }, logLevel: 'warn' }, async () => fastify.swagger())
  // Swagger UI from the package's own files (no CDN), under a CSP of its own: the API-wide
  // `default-src 'none'` would leave the page blank.
  await fastify.register(swaggerUi, {
    routePrefix: '/documentation',
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 1 },
    logLevel: 'warn'
  })
}, { name: 'herald-openapi' })
