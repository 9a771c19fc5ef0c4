// One payment end to end: a span for each delivery of an event to a client (a long-poll answered, an
// SSE update written), in the trace of the ingest request that caused the event.
import { SpanKind, context, trace, type SpanContext, type Tracer } from '@opentelemetry/api'
import type { StreamEvent } from '@herald/contracts'
import { traceContextOf } from '@herald/service-kit'

export type DeliveryChannel = 'longpoll' | 'sse'

/** What a delivery span needs of an event: the event itself has it all. */
export type DeliveredEvent = Pick<StreamEvent, 'eventId' | 'entityType' | 'entityId' | 'version' | 'requestId' | 'traceparent' | 'tracestate'>

/**
 * Tracing off (no tracer) or an event that carries no trace context: nothing is done. The span is a
 * child of the event's cause rather than a root linked to it: trace viewers (Jaeger, Tempo, Zipkin) draw
 * one trace as one tree, so the callback, its commit and every delivery it made sit in one waterfall
 * with the gaps between them visible; a link is only a reference to open separately. The waiting
 * client's own request (the long-poll or SSE request) is the link instead: one delivery has one cause
 * but is answered into another trace.
 */
export class DeliverySpans {
  readonly #tracer: Tracer | undefined

  constructor (tracer: Tracer | undefined) {
    this.#tracer = tracer
  }

  /** The span of the request running now (a long-poll or SSE request being opened), to link deliveries to. */
  waitingRequest (): SpanContext | undefined {
    return this.#tracer === undefined ? undefined : trace.getSpanContext(context.active())
  }

  record (channel: DeliveryChannel, event: DeliveredEvent, waiting: SpanContext | undefined): void {
    if (this.#tracer === undefined || event.traceparent === undefined) return
    this.#tracer.startSpan('herald.deliver', {
      kind: SpanKind.CONSUMER,
      attributes: {
        'herald.delivery.channel': channel,
        'herald.event.id': event.eventId,
        'herald.entity.type': event.entityType,
        'herald.entity.id': event.entityId,
        'herald.event.version': event.version,
        ...(event.requestId === undefined ? {} : { 'herald.event.request_id': event.requestId })
      },
      links: waiting === undefined ? [] : [{ context: waiting }]
    }, traceContextOf(event)).end()
  }
}
