// A stand-in OTLP/HTTP collector: keeps the spans the services' exporters post (OTLP JSON, hex ids), and
// a back-end that records the webhooks it receives, headers included.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { Teardown } from './processes.js'

export interface ExportedSpan {
  service: string
  name: string
  /** OTLP's numbering: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number
  traceId: string
  spanId: string
  parentSpanId: string
  attributes: Record<string, unknown>
  links: Array<{ traceId: string, spanId: string }>
}

type OtlpAttribute = { key: string, value: Record<string, unknown> }
interface OtlpSpan { name: string, kind: number, traceId: string, spanId: string, parentSpanId?: string, attributes?: OtlpAttribute[], links?: Array<{ traceId: string, spanId: string }> }
interface OtlpExport { resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }, scopeSpans: Array<{ spans: OtlpSpan[] }> }> }

function attributesOf (list: OtlpAttribute[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => {
    const [kind, raw] = Object.entries(value)[0] ?? []
    return [key, kind === 'intValue' ? Number(raw) : raw]
  }))
}

async function listening (server: ReturnType<typeof createServer>, t: Teardown): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Listens on an ephemeral port; `url` is what OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
export async function startCollector (t: Teardown): Promise<{ url: string, spans: ExportedSpan[] }> {
  const spans: ExportedSpan[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { body += chunk })
    request.on('end', () => {
      if (request.url === '/v1/traces') {
        for (const resource of (JSON.parse(body) as OtlpExport).resourceSpans) {
          const service = String(attributesOf(resource.resource.attributes)['service.name'])
          for (const scope of resource.scopeSpans) {
            for (const span of scope.spans) {
              spans.push({
                service,
                name: span.name,
                kind: span.kind,
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ?? '',
                attributes: attributesOf(span.attributes),
                links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId }))
              })
            }
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  return { url: await listening(server, t), spans }
}

export interface ReceivedWebhook { headers: IncomingHttpHeaders, body: any }

/** A back-end that takes every webhook (200) and records it. */
export async function startBackend (t: Teardown): Promise<{ url: string, received: ReceivedWebhook[] }> {
  const received: ReceivedWebhook[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => { body += chunk })
    request.on('end', () => {
      received.push({ headers: request.headers, body: JSON.parse(body) })
      response.writeHead(200).end()
    })
  })
  return { url: `${await listening(server, t)}/herald`, received }
}

/** The parts of a W3C `traceparent`. */
export function parseTraceparent (value: unknown): { traceId: string, parentId: string, sampled: boolean } | null {
  const match = typeof value === 'string' ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value) : null
  return match === null ? null : { traceId: match[1]!, parentId: match[2]!, sampled: (parseInt(match[3]!, 16) & 1) === 1 }
}
