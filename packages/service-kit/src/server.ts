// Runs a service: builds Fastify with Herald's logger and timeouts, listens, and closes with grace.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import closeWithGrace from 'close-with-grace'
import type { Socket } from 'node:net'
import type { DestinationStream } from 'pino'
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ErrorCodes, type ErrorBody } from '@herald/contracts'
import { loggerOptions, requestIdOptions, type LogFormat } from './logger.js'
import { ConfigError } from './config.js'

/** Longer than any id the contracts accept (128), so an over-long id is a validation 400 naming it. */
const MAX_PARAM_LENGTH = 512

/**
 * Errors Fastify raises before routing (a malformed URL, an over-long path parameter) bypass
 * `setErrorHandler`: answer them with the contracts' error body too. The path is not echoed, as it can
 * carry a callback token.
 */
function answerFrameworkError (error: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply) {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH'
  const body: ErrorBody = {
    success: false,
    error: tooLong ? `A path parameter is longer than ${MAX_PARAM_LENGTH} characters` : 'The URL is not valid',
    code: ErrorCodes.VALIDATION
  }
  request.log.info({ err: { code: error.code } }, 'request refused before routing')
  return reply.code(tooLong ? 414 : 400).type('application/json').send(body)
}

export interface ServerSettings {
  service: string
  logLevel: string
  /** JSON lines unless `pretty` (LOG_FORMAT). */
  logFormat?: LogFormat
  /** Where log lines go instead of stdout (tests). */
  logStream?: DestinationStream
  bodyLimit?: number
  /** How long a client may take to send a whole request, headers and body (slow-loris guard). */
  requestTimeoutMs?: number
  /**
   * Proxies (IPs, CIDRs: `trustedProxies(TRUSTED_PROXIES)`) whose X-Forwarded-For is believed, so that
   * `request.ip` is the client's address; none by default, when a forwarded header changes nothing.
   */
  trustedProxies?: readonly string[]
}

/**
 * How often Node looks for connections whose request is late (`connectionsCheckingInterval`, 30 s by
 * default): a client that has not sent its whole request within the timeout is cut at most this long
 * after it. The sweep walks only connections with a request in progress, so it costs nothing for held
 * long-polls and SSE streams (their requests are complete) or idle keep-alive connections.
 */
const REQUEST_SWEEP_MS = 500

/** A Fastify instance with Herald's defaults; `app` plugins are registered on it by the caller. */
export function createFastify (settings: ServerSettings, extra: Partial<FastifyServerOptions> = {}) {
  const requestTimeout = settings.requestTimeoutMs ?? 30_000
  const app = Fastify({
    logger: loggerOptions(settings.logLevel, settings.service, settings.logFormat, settings.logStream),
    ...requestIdOptions,
    bodyLimit: settings.bodyLimit ?? 64 * 1024,
    trustProxy: settings.trustedProxies !== undefined && settings.trustedProxies.length > 0 ? [...settings.trustedProxies] : false,
    return503OnClosing: true,
    // Long-polls and SSE hold responses open: only the time to send the request (headers and body, of
    // every request on a connection) is bounded here (docs/RELIABILITY.md, "Slow clients").
    // headersTimeout must not exceed it: Node swaps the two when it does, so bodies would get 60 s.
    requestTimeout,
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(REQUEST_SWEEP_MS, requestTimeout) },
    clientErrorHandler: answerClientError,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError,
    ajv: undefined,
    ...extra
  }).withTypeProvider<TypeBoxTypeProvider>().setValidatorCompiler(TypeBoxValidatorCompiler)
  return app
}

/**
 * Answers what Node's HTTP parser refuses before Fastify sees a request (a request not received within
 * the timeout, headers too large, bytes that are not HTTP) with the contracts' error body, then closes the
 * connection: its framing can no longer be trusted.
 */
function answerClientError (this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, reason, body]: [number, string, ErrorBody] = error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? [408, 'Request Timeout', { success: false, error: 'The request was not received in time', code: ErrorCodes.REQUEST_TIMEOUT }]
    : error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', { success: false, error: 'The request headers are too large', code: ErrorCodes.VALIDATION }]
      : [400, 'Bad Request', { success: false, error: 'The request is not valid HTTP', code: ErrorCodes.VALIDATION }]
  this.log.debug({ err: { code: error.code }, status }, 'connection refused by the HTTP parser')
  // A response already under way (its request's body was still arriving) cannot take a second head.
  const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  if (socket.writable && !answering) {
    const text = JSON.stringify(body)
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
  }
  socket.destroy(error)
}

export interface RunOptions {
  port: number
  host: string
  graceMs: number
}

/** Listens, prints where, and on SIGINT/SIGTERM marks not-ready and closes within `graceMs`. */
export async function runServer (app: FastifyInstance, options: RunOptions): Promise<void> {
  closeWithGrace({ delay: options.graceMs }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    app.readiness?.markShuttingDown()
    await app.close()
  })
  await app.listen({ port: options.port, host: options.host })
}

function exitOnConfigError (err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`)
    process.exit(78)
  }
  throw err
}

/** Loads config or exits non-zero with a message naming the bad variable. */
export function configOrExit<T> (load: () => T): T {
  try {
    return load()
  } catch (err) {
    return exitOnConfigError(err)
  }
}

/**
 * Starts the service; a configuration found wrong only once connected (a shard count other than the one
 * recorded in Redis) exits 78 with its message, as a bad variable does.
 */
export async function startOrExit (start: () => Promise<void>): Promise<void> {
  try {
    await start()
  } catch (err) {
    exitOnConfigError(err)
  }
}
