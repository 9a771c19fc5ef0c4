// React hooks over the follow functions: `@herald/client/react` (React is an optional peer dependency).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import type { OrderSnapshot, RegistrationUpdate } from './wire.js'
import type { HeraldClientError } from './errors.js'
import { followAllRegistrations, followOrder, followRegistration, type FollowOptions, type RegistrationHandlers } from './follow.js'
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

/**
 * The call of the hook Herald replaces: `useRegistrationUpdates({ registrationId, onUpdate, onConnected,
 * onError, autoConnect })`. Without `registrationId` it follows every registration (an admin token).
 */
export interface RegistrationUpdatesOptions extends Partial<LiveOptions> {
  registrationId?: string | number | null
  onUpdate?: (update: RegistrationUpdate) => void
  /** Each time the stream is (re)connected. */
  onConnected?: () => void
  onError?: (error: HeraldClientError) => void
  /** False: nothing is opened until `connect()` is called. Default true. */
  autoConnect?: boolean
}

export interface RegistrationUpdatesState extends RegistrationLiveState {
  /** Opens the stream (after `autoConnect: false`, or after `disconnect()`). */
  connect: () => void
  disconnect: () => void
}

/** Updates kept for the all-registrations feed, which never ends. */
const MAX_FEED_UPDATES = 1000

/**
 * Follows one registration, or with the options-object call and no `registrationId` every registration.
 * The positional call `(registrationId, { baseUrl, token, stages })` follows nothing for a null id.
 */
export function useRegistrationUpdates (options: RegistrationUpdatesOptions): RegistrationUpdatesState
export function useRegistrationUpdates (registrationId: string | null | undefined, options: LiveOptions): RegistrationUpdatesState
export function useRegistrationUpdates (
  first: RegistrationUpdatesOptions | string | null | undefined,
  second?: LiveOptions
): RegistrationUpdatesState {
  const legacy = typeof first === 'object' && first !== null
  const options: RegistrationUpdatesOptions = legacy ? first : { ...second, registrationId: first }
  const rawId = options.registrationId
  const registrationId = rawId === null || rawId === undefined ? null : String(rawId)
  // The old hook followed everything when given no id; the positional call follows nothing.
  const followsAll = legacy && registrationId === null
  const follows = followsAll || registrationId !== null

  const [isConnected, setConnected] = useState(false)
  const [updates, setUpdates] = useState<RegistrationUpdate[]>([])
  const [error, setError] = useState<LiveState<RegistrationUpdate>['error']>(null)
  const [active, setActive] = useState(options.autoConnect !== false)
  // Callbacks change on every render of the caller: read the latest without reconnecting.
  const callbacks = useRef(options)
  callbacks.current = options
  const { baseUrl = '', token } = options

  useEffect(() => {
    setUpdates([])
    setError(null)
    if (!follows || !active) return
    const followOptions: FollowOptions = { ...callbacks.current, baseUrl, token }
    const handlers: RegistrationHandlers = {
      onUpdate: (update) => {
        setUpdates((previous) => followsAll ? [...previous.slice(1 - MAX_FEED_UPDATES), update] : [...previous, update])
        callbacks.current.onUpdate?.(update)
      },
      onReset: (snapshot) => {
        // The all-registrations feed has no single snapshot to show: keep what is on screen.
        if (!followsAll) setUpdates(snapshot === null ? [] : updatesFromSnapshot(snapshot))
      },
      onConnectionChange: (connected) => {
        setConnected(connected)
        if (!connected) return
        setError(null)
        callbacks.current.onConnected?.()
      },
      onError: (failure, willRetry) => {
        setError(withRetrying(failure, willRetry))
        callbacks.current.onError?.(failure)
      }
    }
    if (followsAll) return followAllRegistrations(handlers, followOptions)
    return followRegistration(registrationId!, handlers, { ...followOptions, lastEventId: FROM_THE_START })
    // Reconnect only when what is followed changes, not when the caller passes a new options object.
  }, [registrationId, followsAll, follows, active, baseUrl, token])

  const connect = useCallback(() => setActive(true), [])
  const disconnect = useCallback(() => setActive(false), [])
  const stages = options.stages ?? DEFAULT_REGISTRATION_STAGES
  const progress = useMemo(() => registrationProgress(updates, stages), [updates, stages])
  return {
    isConnected: isConnected && active && follows,
    latestUpdate: progress.latest,
    updates,
    progress: progress.percent,
    stages: progress.stages,
    finalStatus: progress.finalStatus,
    error,
    connect,
    disconnect
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
