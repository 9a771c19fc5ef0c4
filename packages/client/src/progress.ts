// How far a registration (or a payment) has got, for progress bars: pure functions over the updates.
import type {
  FinalStatus, OrderSnapshot, RegistrationSnapshot, RegistrationUpdate, StageStatus
} from './wire.js'
import { isFinalPaymentStatus } from './wait-for-order.js'

/** The stages back-office producers report today, in the order they run. */
export const DEFAULT_REGISTRATION_STAGES: readonly string[] = ['duplicate_check', 'core_banking_lookup', 'status_update']

export const FINAL_REGISTRATION_STATUSES = ['APPROVED', 'COMPLETED', 'DUPLICATE', 'FAILED', 'REJECTED'] as const satisfies readonly FinalStatus[]

export function isFinalRegistrationStatus (status: string): status is FinalStatus {
  return (FINAL_REGISTRATION_STATUSES as readonly string[]).includes(status)
}

export interface StageState {
  name: string
  status: StageStatus | 'waiting'
  message: string | undefined
  /** Epoch milliseconds of the stage's last update. */
  timestamp: number | undefined
}

export interface RegistrationProgress {
  stages: StageState[]
  /** 0–100: completed stages over known stages, 100 once the final verdict is in. */
  percent: number
  finalStatus: FinalStatus | null
  latest: RegistrationUpdate | null
}

/**
 * Folds updates into per-stage states. Stages the producer reports that are not in `knownStages` are
 * appended in the order first seen, so a new back-office stage shows up without a client release.
 */
export function registrationProgress (
  updates: readonly RegistrationUpdate[],
  knownStages: readonly string[] = DEFAULT_REGISTRATION_STAGES
): RegistrationProgress {
  const stages = new Map<string, StageState>()
  for (const name of knownStages) stages.set(name, { name, status: 'waiting', message: undefined, timestamp: undefined })
  let finalStatus: FinalStatus | null = null
  for (const update of updates) {
    // The old design's rule: any status but PENDING is the verdict.
    if (update.status !== 'PENDING') {
      finalStatus = update.status
      continue
    }
    if (update.stage === undefined) continue
    stages.set(update.stage, { name: update.stage, status: update.stageStatus ?? 'started', message: update.message, timestamp: update.timestamp })
  }
  const list = [...stages.values()]
  const completed = list.filter((stage) => stage.status === 'completed').length
  const percent = finalStatus !== null ? 100 : list.length === 0 ? 0 : Math.round((completed / list.length) * 100)
  return { stages: list, percent, finalStatus, latest: updates.at(-1) ?? null }
}

/** Rebuilds the update list a subscriber would have seen from a snapshot (after a `reset`). */
export function updatesFromSnapshot (snapshot: RegistrationSnapshot): RegistrationUpdate[] {
  const updates: RegistrationUpdate[] = snapshot.processLog.map((entry) => ({
    registrationId: snapshot.registrationId,
    status: 'PENDING',
    stage: entry.stage,
    stageStatus: entry.status,
    // The gateway's default for a stage reported without a message.
    message: entry.message === undefined || entry.message === '' ? `${entry.status}: ${entry.stage}` : entry.message,
    timestamp: Date.parse(entry.timestamp)
  }))
  if (isFinalRegistrationStatus(snapshot.status)) {
    const final: RegistrationUpdate = {
      registrationId: snapshot.registrationId,
      status: snapshot.status,
      message: snapshot.message,
      timestamp: Date.parse(snapshot.updatedAt),
      processLog: snapshot.processLog
    }
    if (snapshot.details !== undefined) final.details = snapshot.details
    updates.push(final)
  }
  return updates
}

/** 0 while pending, 50 while the provider is processing, 100 once the payment is final. */
export function orderProgress (order: Pick<OrderSnapshot, 'paymentStatus'> | null): number {
  if (order === null) return 0
  if (isFinalPaymentStatus(order.paymentStatus)) return 100
  return order.paymentStatus === 'processing' ? 50 : 0
}
