// Every answer carries x-request-id: the caller's (when it is a sane token) or the one Herald made up.
import fp from 'fastify-plugin'

export default fp(async (fastify) => {
  // onRequest, so errors, 404s and hijacked SSE responses (which copy the reply's headers) carry it too.
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
}, { name: 'herald-request-id' })
