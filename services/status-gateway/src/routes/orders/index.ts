// Orders: the snapshot, the long-poll a payment page waits on, the order's SSE stream and the admin feed of all orders.
import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import {
  ErrorBody, OrderEventsQuery, OrderIdParams, OrderSnapshotResponse, OrderSseMessage, OrderWaitQuery, OrderWaitResponse
} from '@herald/contracts'
import { NotFoundError, ValidationError } from '@herald/service-kit'
import { readHistory } from '@herald/streams'
import { orderForReader } from '../../orders/order-view.js'

/** Each `data:` line is one of these messages (documented per message in the OpenAPI document). */
const EventStream = {
  description: 'text/event-stream: connected, update (id: <version>), ping, reset, closing; every message has `timestamp` in epoch ms',
  content: { 'text/event-stream': { schema: OrderSseMessage } }
}

const orderRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, statusStore, orderWaiters, streamFanout, access, holdSlots } = fastify

  fastify.get('/api/orders/:orderId', {
    schema: {
      tags: ['orders'],
      summary: 'Current state of an order',
      params: OrderIdParams,
      querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 1024 })) }),
      response: { 200: OrderSnapshotResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody }
    }
  }, async (request) => {
    const { orderId } = request.params
    const { showCustomer } = access.authorize(request, 'order', orderId)
    const order = await statusStore.readOrder(orderId)
    if (order === null) throw new NotFoundError(`Order ${orderId} not found`)
    return { success: true as const, ...orderForReader(order, showCustomer) }
  })

  fastify.get('/api/orders/:orderId/wait', {
    schema: {
      tags: ['orders'],
      summary: 'Wait until an order changes (long-poll)',
      description: 'Answers at once when the payment is final or the order is newer than `since`; otherwise when it changes, or with the current state (`timedOut: true`) after `timeout` ms.',
      params: OrderIdParams,
      querystring: OrderWaitQuery,
      response: { 200: OrderWaitResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody }
    }
  }, (request, reply) => {
    // Not async: an async handler that answers later must return the reply, and Fastify then awaits the
    // reply by watching the response finish (about 1.9 KB of listeners and closures per held request).
    // OrderWaiters answers on its own; a failure before that (unknown order, Redis and Postgres down)
    // goes to the error handler as a throw would (the typed reply's send takes only the route's bodies).
    const { orderId } = request.params
    const timeout = request.query.timeout ?? config.LONGPOLL_DEFAULT_TIMEOUT_MS
    if (timeout > config.LONGPOLL_MAX_TIMEOUT_MS) {
      throw new ValidationError(`querystring/timeout must be at most ${config.LONGPOLL_MAX_TIMEOUT_MS}`)
    }
    const { showCustomer } = access.authorize(request, 'order', orderId)
    holdSlots(request, reply)

    orderWaiters.wait({
      orderId,
      reply,
      showCustomer,
      since: request.query.since,
      timeoutMs: timeout,
      read: () => statusStore.readOrder(orderId)
    }).catch((err: unknown) => (reply as FastifyReply).send(err))
  })

  fastify.get('/api/orders/:orderId/events', {
    schema: {
      tags: ['orders'],
      summary: 'Server-Sent Events for one order',
      description: 'Resume with `Last-Event-ID` (or `?lastEventId=`): the missed versions in order, or a `reset` with the current state.',
      params: OrderIdParams,
      querystring: OrderEventsQuery,
      response: { 200: EventStream, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 429: ErrorBody, 503: ErrorBody }
    }
  }, async (request, reply) => {
    const { orderId } = request.params
    const { showCustomer } = access.authorize(request, 'order', orderId)
    await streamFanout.open(request, reply, { kind: 'order', entityId: orderId, showCustomer }, {
      history: (afterVersion) => readHistory(fastify.redis, fastify.streamLayout, 'order', orderId, afterVersion),
      snapshot: () => statusStore.readOrder(orderId),
      // An order exists before anyone can follow it (PUT /v1/orders mints its token): a stream for an
      // unknown id would be held for nothing, so it is a 404, as the long-poll is.
      notFound: `Order ${orderId} not found`
    })
  })

  // The router prefers the static `updates` segment over `:orderId` for this exact path only: an order
  // named `updates` keeps its snapshot, wait and events routes.
  fastify.get('/api/orders/updates/stream', {
    schema: {
      tags: ['orders'],
      summary: 'Server-Sent Events for every order (admin token)',
      description: 'Each update is the order\'s full snapshot, customer included, with `id: <orderId>:<version>`. ' +
        'The feed does not replay: a reconnect with an id gets a `reset` with `data: null` (read the open orders again).',
      querystring: OrderEventsQuery,
      response: { 200: EventStream, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody }
    }
  }, async (request, reply) => {
    access.authorizeAdmin(request, 'the all-orders feed')
    await streamFanout.open(request, reply, { kind: 'orders' }, null)
  })
}

export default orderRoutes
