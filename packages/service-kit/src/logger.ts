// pino options shared by the services: JSON logs, request ids, personal data masked.
import type { FastifyServerOptions } from 'fastify'
import { randomUUID } from 'node:crypto'
import { maskText } from './mask.js'

export function loggerOptions (level: string, service: string): FastifyServerOptions['logger'] {
  return {
    level,
    base: { service },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["webhook-signature"]',
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
        // URLs carry callback tokens and subscribe tokens: log the path only, with secrets cut.
        const url = request.url.replace(/(\/webhooks\/[a-z]+\/)[^/?]+/, '$1[token]').replace(/([?&]token=)[^&]+/, '$1[token]')
        return { method: request.method, url: maskText(url), id: request.id, ip: request.ip }
      }
    }
  }
}

export const requestIdOptions = {
  requestIdHeader: 'x-request-id',
  genReqId: () => randomUUID()
} satisfies Partial<FastifyServerOptions>
