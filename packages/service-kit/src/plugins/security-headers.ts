// Security headers on every answer (helmet's): JSON, SSE and the pages alike.
import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * An API answer is data, never a document: it may load nothing, be framed by nobody, and its type is not
 * to be guessed (`nosniff`); no URL leaves in a Referer. Pages (the gateway's dashboard) replace the CSP
 * with their own and keep the rest.
 */
const API_HEADERS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] }
  },
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  // Browsers ignore HSTS over plain HTTP; behind TLS it keeps them on HTTPS.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true }
}

/**
 * The headers helmet's middleware sets for `options`, read once. They are the same for every answer;
 * @fastify/helmet built the middleware again for each request (options parsed, directives joined), which
 * cost the ingest about 5% of its CPU per callback.
 */
export function securityHeadersOf (options: HelmetOptions): ReadonlyArray<readonly [string, string]> {
  const headers: Array<readonly [string, string]> = []
  const recorder = {
    setHeader (name: string, value: string) { headers.push([name, value]) },
    // Helmet removes X-Powered-By, which neither Fastify nor Node sets.
    removeHeader () {}
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => { if (err != null) throw err })
  return headers
}

export default fp(async (fastify) => {
  const headers = Object.fromEntries(securityHeadersOf(API_HEADERS).map(([name, value]) => [name.toLowerCase(), value]))
  // On the reply, as x-request-id and CORS are: Fastify writes them with its answer, and a hijacked answer
  // copies the reply's headers (the SSE fan-out does). Set on the raw response instead, Node keeps a
  // [name, value] array per header in a dictionary: about 1.6 KB for every long-poll held open. A route
  // replaces one on the reply (a page's own policy: the gateway's dashboard).
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
}, { name: 'herald-security-headers' })
