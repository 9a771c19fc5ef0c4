// POST /v1/registrations/:registrationId/events: a back-office stage event or the final verdict.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { signSubscribeToken } from '@herald/contracts/subscribe-token'
import {
  ErrorBody, RegistrationEventBody, RegistrationEventResponse, RegistrationFinalStatusBody, RegistrationIdParams,
  RegistrationStageEventBody, compileValidator
} from '@herald/contracts'
import { createRegistrationRepository } from '../../repositories/registrations.js'
import { assertBody, bodyCheckedByGuard, requireStandardWebhook, useRawJsonBody } from '../request-guards.js'

// Validated by `type` first, so a 400 names the field of the intended shape rather than a union mismatch.
const validateFinal = compileValidator(RegistrationFinalStatusBody)
const validateStage = compileValidator(RegistrationStageEventBody)
const isFinal = (body: unknown) => typeof body === 'object' && body !== null && (body as { type?: unknown }).type === 'final'

const registrationRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  useRawJsonBody(fastify)
  const { config } = fastify
  const repository = createRegistrationRepository(fastify.unitOfWork)

  fastify.post('/v1/registrations/:registrationId/events', {
    schema: {
      summary: 'Record a registration stage event or its final status; answers the snapshot and a subscribe token',
      params: RegistrationIdParams,
      body: RegistrationEventBody,
      response: { 200: RegistrationEventResponse, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody }
    },
    preValidation: [
      requireStandardWebhook(fastify.standardWebhookVerifier),
      async (request) => { assertBody<unknown>(isFinal(request.body) ? validateFinal : validateStage, request.body) }
    ],
    validatorCompiler: bodyCheckedByGuard(fastify)
  }, async (request) => {
    const { registrationId } = request.params
    const result = await repository.recordEvent(registrationId, request.body, request.webhookId!)
    if (result.duplicate) fastify.ingestMetrics.duplicates.inc({ source: 'internal' })
    request.log.info({ registrationId, version: result.registration.version, status: result.registration.status, duplicate: result.duplicate }, 'registration event')
    const exp = Date.now() + config.SUBSCRIBE_TOKEN_TTL_MS
    return {
      success: true as const,
      registration: result.registration,
      duplicate: result.duplicate,
      subscribeToken: signSubscribeToken(config.SUBSCRIBE_TOKEN_SECRET, { scope: 'registration', id: registrationId, exp }),
      subscribeTokenExpiresAt: new Date(exp).toISOString()
    }
  })
}

export default registrationRoutes
