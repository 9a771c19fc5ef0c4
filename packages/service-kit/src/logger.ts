// pino options shared by the services: JSON logs, request ids, personal data masked.
import type { FastifyServerOptions } from 'fastify'
import type { DestinationStream } from 'pino'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { maskText } from './mask.js'

/** Query parameters whose values are secrets, by their decoded, lower-cased name. */
const SECRET_PARAM = /token|secret|signature|password|apikey|api_key/
/** A provider segment: a short word (`mpesa`, `payhero`); anything else after `/webhooks/` may be a token. */
const PROVIDER_SEGMENT = /^[A-Za-z]{1,16}$/

/** Percent-decodes what it can: a malformed escape must not let the rest of a URL through undecoded. */
function lenientDecode (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text.replace(/%([0-7][0-9A-Fa-f])/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
}

/**
 * A request URL as it may be logged: decoded first (percent-encoding, an encoded `/`), then every segment
 * after `/webhooks/<provider>/` and every value of a token-like query parameter masked, whatever the case
 * or how often the parameter repeats; emails and phone numbers masked too.
 */
export function redactUrl (url: string): string {
  const queryAt = url.indexOf('?')
  const segments = lenientDecode(queryAt === -1 ? url : url.slice(0, queryAt)).split('/')
  const webhooks = segments.findIndex((segment) => segment.toLowerCase() === 'webhooks')
  if (webhooks !== -1) {
    for (let i = webhooks + 1; i < segments.length; i++) {
      const isProvider = i === webhooks + 1 && PROVIDER_SEGMENT.test(segments[i]!)
      if (!isProvider && segments[i] !== '') segments[i] = '[token]'
    }
  }
  let redacted = segments.join('/')
  if (queryAt !== -1) {
    const params = [...new URLSearchParams(url.slice(queryAt + 1))].map(([name, value]) =>
      `${encodeURIComponent(name)}=${SECRET_PARAM.test(name.toLowerCase()) ? '[token]' : encodeURIComponent(maskText(value))}`)
    redacted += `?${params.join('&')}`
  }
  return maskText(redacted)
}

export type LogFormat = 'json' | 'pretty'

export function loggerOptions (level: string, service: string, format: LogFormat = 'json', stream?: DestinationStream): FastifyServerOptions['logger'] {
  return {
    level,
    ...(stream !== undefined ? { stream } : {}),
    base: { service },
    // pino-pretty in a worker thread: the service still builds JSON lines, the transport prints them.
    // Resolved here: pino would look for the target from Fastify's directory, where it is not installed.
    ...(format === 'pretty' ? { transport: { target: createRequire(import.meta.url).resolve('pino-pretty'), options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["webhook-signature"]',
        'req.headers.cookie',
        'req.query.token',
        '*.customer.email',
        '*.customer.phone',
        '*.email',
        '*.phone'
      ],
      censor: '[masked]'
    },
    serializers: {
      req (request: { method: string, url: string, id: string, ip?: string }) {
        // URLs carry callback tokens and subscribe tokens: logged decoded, with the secrets cut.
        return { method: request.method, url: redactUrl(request.url), id: request.id, ip: request.ip }
      }
    }
  }
}

/** A caller's request id is kept when it is a plain token: it lands in logs and answers as given. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export const requestIdOptions = {
  requestIdHeader: false,
  genReqId: (request: { headers: Record<string, string | string[] | undefined> }) => {
    const given = request.headers['x-request-id']
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
  }
} satisfies Partial<FastifyServerOptions>
