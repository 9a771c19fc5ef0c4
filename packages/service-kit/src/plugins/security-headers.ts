// Security headers on every answer (@fastify/helmet): JSON, SSE and the pages alike.
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'

/**
 * An API answer is data, never a document: it may load nothing, be framed by nobody, and its type is not
 * to be guessed (`nosniff`); no URL leaves in a Referer. Pages (the gateway's dashboard) replace the CSP
 * with their own and keep the rest.
 */
export default fp(async (fastify) => {
  await fastify.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] }
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Browsers ignore HSTS over plain HTTP; behind TLS it keeps them on HTTPS.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true }
  })
}, { name: 'herald-security-headers' })
