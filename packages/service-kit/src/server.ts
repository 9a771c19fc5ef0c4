// Runs a service: builds Fastify with Herald's logger and timeouts, listens, and closes with grace.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import closeWithGrace from 'close-with-grace'
import type { IncomingMessage, Server } from 'node:http'
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
  /** How long a request's headers may take to arrive (slow-loris guard). */
  requestTimeoutMs?: number
  /**
   * Proxies (IPs, CIDRs: `trustedProxies(TRUSTED_PROXIES)`) whose X-Forwarded-For is believed, so that
   * `request.ip` is the client's address; none by default, when a forwarded header changes nothing.
   */
  trustedProxies?: readonly string[]
}

/** A Fastify instance with Herald's defaults; `app` plugins are registered on it by the caller. */
export function createFastify (settings: ServerSettings, extra: Partial<FastifyServerOptions> = {}) {
  const requestTimeout = settings.requestTimeoutMs ?? 30_000
  const app = Fastify({
    logger: loggerOptions(settings.logLevel, settings.service, settings.logFormat, settings.logStream),
    ...requestIdOptions,
    bodyLimit: settings.bodyLimit ?? 64 * 1024,
    trustProxy: settings.trustedProxies !== undefined && settings.trustedProxies.length > 0 ? [...settings.trustedProxies] : false,
    return503OnClosing: true,
    // Long-polls and SSE hold responses open: only the time to send the request is bounded here. Node
    // enforces it on its connection sweep, every 30 s; `cutSlowHeaders` cuts a connection whose first
    // request's headers are late at the timeout itself (docs/RELIABILITY.md, "Slow clients").
    requestTimeout,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError,
    ajv: undefined,
    ...extra
  }).withTypeProvider<TypeBoxTypeProvider>().setValidatorCompiler(TypeBoxValidatorCompiler)
  cutSlowHeaders(app.server, requestTimeout)
  return app
}

const headersSeen = Symbol('herald.headersSeen')

/**
 * Closes, with a 408, a connection whose first request has not finished its headers within `timeoutMs`
 * (slow loris), promptly rather than on Node's 30 s sweep. Only the first request of a connection is
 * timed here; later keep-alive requests and trickled bodies stay bounded by Node's own `requestTimeout`.
 */
export function cutSlowHeaders (server: Server, timeoutMs: number): void {
  server.on('connection', (socket: Socket & { [headersSeen]?: boolean }) => {
    const timer = setTimeout(() => {
      if (socket[headersSeen] === true || socket.destroyed) return
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      socket.destroySoon()
    }, timeoutMs)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  })
  server.on('request', (request: IncomingMessage) => {
    (request.socket as Socket & { [headersSeen]?: boolean })[headersSeen] = true
  })
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
