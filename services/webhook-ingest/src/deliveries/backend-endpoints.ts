// The back-end endpoints in configuration: ids stable across restarts and replicas, URLs safe to show.
import { createHash } from 'node:crypto'
import { BACKEND_EVENT_TYPES, type BackendEventType } from '@herald/contracts'
import { commaList } from '@herald/service-kit'
import type { BackendEndpoint } from './endpoint-delivery.js'

/** The id is derived from the URL: every replica names the same endpoint alike, with no registry. */
export function backendEndpointsOf (urls: string): BackendEndpoint[] {
  return [...new Set(commaList(urls))].map((url) => ({ id: `ep_${createHash('sha256').update(url).digest('hex').slice(0, 16)}`, url }))
}

/** BACKEND_WEBHOOK_EVENTS: empty means every type. */
export function backendEventTypesOf (value: string): Set<BackendEventType> {
  const wanted = commaList(value)
  return new Set(wanted.length === 0 ? BACKEND_EVENT_TYPES : wanted as BackendEventType[])
}
