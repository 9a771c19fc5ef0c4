// @herald/producer: what a back-end needs to tell Herald about registrations and orders.
export { createProducer, type Producer, type ProducerOptions, type ProcessStage, type RegistrationId, type CallOptions } from './producer.js'
export { HeraldProducerError, ProducerErrorCodes, type HeraldProducerErrorOptions } from './errors.js'
export { DEFAULT_RETRY_POLICY, backoffDelayMs, isRetryableStatus, retryAfterMs, type RetryPolicy } from './retry.js'
export { signStandardWebhook, newWebhookId, type StandardWebhookHeaders } from './signing.js'
