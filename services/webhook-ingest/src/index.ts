export { default as ingestApp, type IngestAppOptions } from './app.js'
export { loadIngestConfig, IngestEnv, type IngestConfig } from './config.js'
export { StandardWebhookVerifier, type StandardWebhookHeaders } from './auth/standard-webhooks.js'
export { pathTokenMatches } from './auth/path-token.js'
export { SourceIpPolicy } from './auth/source-ip.js'
export { orderSnapshotOf, registrationSnapshotOf, type OrderRow, type RegistrationRow } from './snapshots.js'
export {
  decideTransition, outcomeOfResultCode, outcomeOfPayHeroAfrica, paymentStatusOf, orderStatusOf, FAILED_RESULT_CODES,
  type PaymentState, type TransitionDecision
} from './payments/state-machine.js'
export { fromDarajaStk, fromPayHeroAfrica, fromPayHeroV2, dedupeKeyOf, type ProviderCallback } from './payments/callbacks.js'
export { OutboxRelay, type OutboxRelayOptions } from './outbox/relay.js'
