// The W3C trace context as Herald carries it between processes: captured from the span a request runs
// in, kept with the event it caused (outbox, stream), and continued by whoever delivers that event.
import { ROOT_CONTEXT, context, defaultTextMapGetter, defaultTextMapSetter, trace, type Context } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'

/** The two W3C trace-context headers, as an event carries them. */
export interface TraceCarrier {
  traceparent?: string
  tracestate?: string
}

/**
 * Always W3C, whatever propagators the process registered globally (OTEL_PROPAGATORS may say b3): what
 * an event carries is read back by another service, maybe another version of it, so its format is fixed.
 */
const w3c = new W3CTraceContextPropagator()

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/
const MAX_TRACESTATE = 512

/**
 * The trace context of the span active now; undefined when there is none, which is always the case
 * with tracing off (no context manager, so the root context, so no span): one lookup and no allocation.
 * Only what the event contract accepts is returned: a reader must never drop an event for its trace.
 */
export function activeTraceContext (): TraceCarrier | undefined {
  const active = context.active()
  if (trace.getSpan(active) === undefined) return undefined
  const carrier: TraceCarrier = {}
  w3c.inject(active, carrier, defaultTextMapSetter)
  if (carrier.traceparent === undefined || !TRACEPARENT.test(carrier.traceparent)) return undefined
  if (carrier.tracestate !== undefined && carrier.tracestate.length > MAX_TRACESTATE) delete carrier.tracestate
  return carrier
}

/** The context a span continuing `carrier`'s trace starts in: the root context when it carries none. */
export function traceContextOf (carrier: TraceCarrier): Context {
  return carrier.traceparent === undefined ? ROOT_CONTEXT : w3c.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter)
}

/** Sets `traceparent` (and `tracestate`) in `headers` for the span active in `ctx`. */
export function injectTraceContext (ctx: Context, headers: Record<string, string>): void {
  w3c.inject(ctx, headers, defaultTextMapSetter)
}
