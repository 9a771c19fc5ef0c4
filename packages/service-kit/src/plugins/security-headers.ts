// Security headers on every answer (helmet's, computed once): JSON, SSE and the pages alike.
import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * An API answer is data, never a document: it may load nothing, be framed by nobody, and its type is not
 * to be guessed (`nosniff`); no URL leaves in a Referer. Pages (the gateway's dashboard) replace the CSP
 * with their own and keep the rest.
 */
const API_HELMET: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] }
  },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  // Browsers ignore HSTS over plain HTTP; behind TLS it keeps them on HTTPS.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true }
}

/** The headers helmet's middleware sets with `options`, by lower-case name: the same for every answer. */
export function helmetHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader (name: string, value: string) { headers[name.toLowerCase()] = value },
    removeHeader () {}
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  if (Object.keys(headers).length === 0) throw new Error('helmet set no headers')
  return headers
}

/**
 * The headers go on the reply, which Fastify writes when it answers (and the SSE fan-out copies): set on
 * the raw response as helmet's middleware does, Node keeps a [name, value] pair per header in a
 * dictionary, about 1.8 KB for every response held open. A route that sets one of them itself wins.
 */
export default fp(async (fastify) => {
  const headers = helmetHeaders(API_HELMET)
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}, { name: 'herald-security-headers' })
