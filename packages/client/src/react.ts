// React hooks over the follow functions: `@herald/client/react` (React is an optional peer dependency).
import { useEffect, useMemo, useState } from 'react'
import type { OrderSnapshot, RegistrationUpdate } from '@herald/contracts'
import type { HeraldClientError } from './errors.js'
import { followOrder, followRegistration, type FollowOptions } from './follow.js'
import { DEFAULT_REGISTRATION_STAGES, orderProgress, registrationProgress, updatesFromSnapshot, type StageState } from './progress.js'

/**
 * Version 0 is before every event: the hooks replay an entity's (short) history first, so a page opened
 * halfway through shows the stages already done; past retention the gateway sends a reset with the snapshot.
 */
const FROM_THE_START = '0'

export interface LiveOptions extends Omit<FollowOptions, 'lastEventId'> {
  /** Stage names in the order they run, for the progress bar. */
  stages?: readonly string[]
}

export interface LiveState<Update> {
  isConnected: boolean
  latestUpdate: Update | null
  updates: Update[]
  /** 0–100. */
  progress: number
  /** The last error; `error.retrying` tells whether the hook is still trying. */
  error: (HeraldClientError & { retrying: boolean }) | null
}

export interface RegistrationLiveState extends LiveState<RegistrationUpdate> {
  stages: StageState[]
  finalStatus: string | null
}

function withRetrying (error: HeraldClientError, retrying: boolean): HeraldClientError & { retrying: boolean } {
  return Object.assign(error, { retrying })
}

/** Follows one registration; `registrationId` null or undefined follows nothing (e.g. before it exists). */
export function useRegistrationUpdates (registrationId: string | null | undefined, options: LiveOptions): RegistrationLiveState {
  const [isConnected, setConnected] = useState(false)
  const [updates, setUpdates] = useState<RegistrationUpdate[]>([])
  const [error, setError] = useState<LiveState<RegistrationUpdate>['error']>(null)
  const { baseUrl, token } = options

  useEffect(() => {
    setUpdates([])
    setError(null)
    if (registrationId === null || registrationId === undefined) return
    return followRegistration(registrationId, {
      onUpdate: (update) => setUpdates((previous) => [...previous, update]),
      onReset: (snapshot) => setUpdates(snapshot === null ? [] : updatesFromSnapshot(snapshot)),
      onConnectionChange: (connected) => {
        setConnected(connected)
        if (connected) setError(null)
      },
      onError: (failure, willRetry) => setError(withRetrying(failure, willRetry))
    }, { ...options, lastEventId: FROM_THE_START })
    // Reconnect only when what is followed changes, not when the caller passes a new options object.
  }, [registrationId, baseUrl, token])

  const stages = options.stages ?? DEFAULT_REGISTRATION_STAGES
  const progress = useMemo(() => registrationProgress(updates, stages), [updates, stages])
  return {
    isConnected,
    latestUpdate: progress.latest,
    updates,
    progress: progress.percent,
    stages: progress.stages,
    finalStatus: progress.finalStatus,
    error
  }
}

/** Follows one order; each update is the order's full snapshot. */
export function useOrderStatus (orderId: string | null | undefined, options: Omit<LiveOptions, 'stages'>): LiveState<OrderSnapshot> {
  const [isConnected, setConnected] = useState(false)
  const [updates, setUpdates] = useState<OrderSnapshot[]>([])
  const [error, setError] = useState<LiveState<OrderSnapshot>['error']>(null)
  const { baseUrl, token } = options

  useEffect(() => {
    setUpdates([])
    setError(null)
    if (orderId === null || orderId === undefined) return
    return followOrder(orderId, {
      onUpdate: (order) => setUpdates((previous) => [...previous, order]),
      onReset: (snapshot) => setUpdates(snapshot === null ? [] : [snapshot]),
      onConnectionChange: (connected) => {
        setConnected(connected)
        if (connected) setError(null)
      },
      onError: (failure, willRetry) => setError(withRetrying(failure, willRetry))
    }, { ...options, lastEventId: FROM_THE_START })
  }, [orderId, baseUrl, token])

  const latestUpdate = updates.at(-1) ?? null
  return { isConnected, latestUpdate, updates, progress: orderProgress(latestUpdate), error }
}
