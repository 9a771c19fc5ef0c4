// Payment-provider callbacks: PayHero (v2 and Africa shapes) and Daraja STK, authenticated by path token.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import Type from 'typebox'
import {
  DarajaAck, DarajaStkCallback, ErrorBody, PayHeroAck, PayHeroCallback, validateDarajaStk,
  validatePayHeroAfrica, validatePayHeroV2, type PayHeroAfricaCallback, type PayHeroV2Callback
} from '@herald/contracts'
import { ForbiddenError, ValidationError, commaList, refusedFor } from '@herald/service-kit'
import { SourceIpPolicy, plainAddress } from '../../auth/source-ip.js'
import { fromDarajaStk, fromPayHeroAfrica, fromPayHeroV2, referenceLockNames, type ProviderCallback } from '../../payments/callbacks.js'
import { createOrderRepository, type CallbackResult } from '../../repositories/orders.js'
import { assertBody, bodyCheckedByGuard, requirePathToken, useRawJsonBody } from '../request-guards.js'

const WebhookTokenParams = Type.Object({ token: Type.String({ maxLength: 256 }) })

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody }

/** PayHero v2 nests the result under `response`; PayHero Africa is flat. */
function isPayHeroV2 (body: unknown): boolean {
  return typeof body === 'object' && body !== null && typeof (body as { response?: unknown }).response === 'object'
}

function requireReference (callback: ProviderCallback): ProviderCallback {
  if (referenceLockNames(callback.references).length === 0) throw new ValidationError('body carries no payment reference to match an order by')
  return callback
}

function reportCallback (fastify: FastifyInstance, log: FastifyBaseLogger, callback: ProviderCallback, result: CallbackResult): void {
  const metrics = fastify.ingestMetrics
  metrics.callbacks.inc({ provider: callback.provider, outcome: callback.outcome, disposition: result.disposition })
  if (result.disposition === 'duplicate') metrics.duplicates.inc({ source: callback.provider })
  if (result.disposition === 'parked') metrics.parked.inc({ provider: callback.provider })
  if (result.reviewKind !== undefined) metrics.reviewItems.inc({ kind: result.reviewKind })
  // References and result only: the raw payload carries phone numbers.
  log.info({ provider: callback.provider, shape: callback.shape, references: callback.references, resultCode: callback.resultCode, outcome: callback.outcome, disposition: result.disposition, orderId: result.orderId, reviewKind: result.reviewKind }, 'payment callback')
}

const webhookRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  useRawJsonBody(fastify)
  const { config } = fastify
  const repository = createOrderRepository(fastify.unitOfWork)
  const sourceIps = new SourceIpPolicy(commaList(config.MPESA_ALLOWED_IPS))
  const validatorCompiler = bodyCheckedByGuard(fastify)

  fastify.post('/webhooks/payhero/:token', {
    schema: {
      summary: 'PayHero payment callback (v2 or PayHero Africa shape)',
      params: WebhookTokenParams,
      body: PayHeroCallback,
      response: { 200: PayHeroAck, ...errors }
    },
    onRequest: requirePathToken(config.PAYHERO_CALLBACK_TOKEN),
    // Pick the shape first so a 400 names the field of that shape, not a union mismatch.
    preValidation: async (request) => {
      assertBody<unknown>(isPayHeroV2(request.body) ? validatePayHeroV2 : validatePayHeroAfrica, request.body)
    },
    validatorCompiler
  }, async (request) => {
    const body = request.body
    const callback = requireReference(isPayHeroV2(body) ? fromPayHeroV2(body as PayHeroV2Callback) : fromPayHeroAfrica(body as PayHeroAfricaCallback))
    const result = await repository.recordCallback(callback, body, plainAddress(request.ip))
    reportCallback(fastify, request.log, callback, result)
    return { success: true as const, disposition: result.disposition }
  })

  fastify.post('/webhooks/mpesa/:token', {
    schema: {
      summary: 'Safaricom Daraja STK push result callback',
      params: WebhookTokenParams,
      body: DarajaStkCallback,
      response: { 200: DarajaAck, ...errors }
    },
    onRequest: [
      async (request) => {
        if (!sourceIps.allows(request.ip)) throw refusedFor(new ForbiddenError(`Source address ${request.ip} may not call this webhook`), 'ip_not_allowed')
      },
      requirePathToken(config.MPESA_CALLBACK_TOKEN)
    ],
    preValidation: async (request) => { assertBody(validateDarajaStk, request.body) },
    validatorCompiler
  }, async (request) => {
    const callback = requireReference(fromDarajaStk(request.body))
    const result = await repository.recordCallback(callback, request.body, plainAddress(request.ip))
    reportCallback(fastify, request.log, callback, result)
    return { ResultCode: 0 as const, ResultDesc: 'Accepted' as const }
  })
}

export default webhookRoutes
