// @herald/client: wait for a payment and follow registrations and orders live, in browsers and Node.
export { waitForOrder, isFinalPaymentStatus, FINAL_PAYMENT_STATUSES, type WaitForOrderOptions, type WaitForOrderResult } from './wait-for-order.js'
export {
  followRegistration, followAllRegistrations, followOrder, followAllOrders,
  type FollowHandlers, type FollowOptions, type RegistrationHandlers, type OrderHandlers, type Unsubscribe
} from './follow.js'
export {
  registrationProgress, updatesFromSnapshot, orderProgress, isFinalRegistrationStatus,
  DEFAULT_REGISTRATION_STAGES, FINAL_REGISTRATION_STATUSES, type RegistrationProgress, type StageState
} from './progress.js'
export { openEventStream, reconnectDelay, type EventStream, type EventStreamOptions, type ReconnectPolicy } from './event-stream.js'
export { HeraldClientError, ClientErrorCodes } from './errors.js'
export { systemClock, type Clock } from './clock.js'
export type {
  OrderWaitResponse, OrderSnapshot, RegistrationUpdate, RegistrationSnapshot, ResetReason, PaymentStatus, PaymentOutcome, FinalStatus
} from './wire.js'
