// Registrations: the snapshot and the SSE stream of one registration, or of all of them (admin).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  EntityId, ErrorBody, compileValidator, RegistrationIdParams, RegistrationSnapshotResponse, RegistrationSseMessage,
  RegistrationStreamQuery
} from '@herald/contracts'
import { NotFoundError, ValidationError } from '@herald/service-kit'
import { readHistory } from '@herald/streams'

const entityId = compileValidator(EntityId)
/** Each `data:` line is one of these messages (documented per message in the OpenAPI document). */
const EventStream = {
  description: 'text/event-stream: connected, update, ping, reset, closing; every message has `timestamp` in epoch ms',
  content: { 'text/event-stream': { schema: RegistrationSseMessage } }
}

const registrationRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { statusStore, streamFanout, access } = fastify

  fastify.get('/api/registrations/:registrationId', {
    schema: {
      tags: ['registrations'],
      summary: 'Current state of a registration',
      params: RegistrationIdParams,
      querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 1024 })) }),
      response: { 200: RegistrationSnapshotResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody }
    }
  }, async (request) => {
    const { registrationId } = request.params
    access.authorize(request, 'registration', registrationId)
    const registration = await statusStore.readRegistration(registrationId)
    if (registration === null) throw new NotFoundError(`Registration ${registrationId} not found`)
    return { success: true as const, ...registration }
  })

  fastify.get('/api/registrations/updates/stream', {
    schema: {
      tags: ['registrations'],
      summary: 'Server-Sent Events for one registration, or every registration (admin token)',
      description: 'With `registrationId`: `id: <version>`, resumable with `Last-Event-ID`. Without it (admin feed): ' +
        '`id: <registrationId>:<version>`; the feed does not replay, a reconnect with an id gets a `reset` with `data: null`.',
      querystring: RegistrationStreamQuery,
      response: { 200: EventStream, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody }
    }
  }, async (request, reply) => {
    const { registrationId } = request.query
    if (registrationId === undefined || registrationId === '') {
      access.authorizeAdmin(request, 'the all-registrations feed')
      await streamFanout.open(request, reply, { kind: 'registrations' }, null)
      return
    }
    if (!entityId.check(registrationId)) throw new ValidationError('querystring/registrationId is not a valid registration id')
    access.authorize(request, 'registration', registrationId)
    // Not refused when unknown: a registration page subscribes before the first stage is published.
    await streamFanout.open(request, reply, { kind: 'registration', entityId: registrationId }, {
      history: (afterVersion) => readHistory(fastify.redis, fastify.streamLayout, 'registration', registrationId, afterVersion),
      snapshot: () => statusStore.readRegistration(registrationId)
    })
  })
}

export default registrationRoutes
