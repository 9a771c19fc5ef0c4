// Postgres tables: the truth Herald answers from. The ingest writes them; the gateway only reads.
import { sql } from 'drizzle-orm'
import {
  bigint, bigserial, boolean, index, integer, jsonb, numeric, pgTable, primaryKey, text, timestamp, uniqueIndex
} from 'drizzle-orm/pg-core'

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()

export const orders = pgTable('orders', {
  id: text('id').primaryKey(),
  orderNumber: text('order_number').notNull(),
  totalAmount: numeric('total_amount', { precision: 14, scale: 2 }).notNull(),
  currency: text('currency').notNull(),
  ticketCount: integer('ticket_count').notNull(),
  customerEmail: text('customer_email').notNull(),
  customerFirstName: text('customer_first_name').notNull(),
  customerLastName: text('customer_last_name').notNull(),
  customerPhone: text('customer_phone'),
  provider: text('provider').notNull(),
  externalReference: text('external_reference'),
  checkoutRequestId: text('checkout_request_id'),
  merchantRequestId: text('merchant_request_id'),
  providerReference: text('provider_reference'),
  paymentStatus: text('payment_status').notNull().default('pending'),
  status: text('status').notNull().default('pending'),
  outcome: text('outcome'),
  resultCode: integer('result_code'),
  resultDesc: text('result_desc'),
  receipt: text('receipt'),
  needsReview: boolean('needs_review').notNull().default(false),
  version: integer('version').notNull().default(1),
  createdAt: createdAt(),
  updatedAt: updatedAt()
}, (table) => [
  uniqueIndex('orders_external_reference_key').on(table.externalReference).where(sql`${table.externalReference} is not null`),
  uniqueIndex('orders_checkout_request_id_key').on(table.checkoutRequestId).where(sql`${table.checkoutRequestId} is not null`),
  index('orders_provider_reference_idx').on(table.providerReference).where(sql`${table.providerReference} is not null`)
])

export const registrations = pgTable('registrations', {
  id: text('id').primaryKey(),
  status: text('status').notNull().default('PENDING'),
  stage: text('stage').notNull().default(''),
  message: text('message').notNull().default(''),
  details: jsonb('details'),
  processLog: jsonb('process_log').notNull().default(sql`'[]'::jsonb`),
  version: integer('version').notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt()
})

export const registrationEvents = pgTable('registration_events', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  registrationId: text('registration_id').notNull(),
  version: integer('version').notNull(),
  kind: text('kind').notNull(),
  stage: text('stage').notNull(),
  status: text('status').notNull(),
  message: text('message').notNull(),
  details: jsonb('details'),
  processLog: jsonb('process_log'),
  webhookId: text('webhook_id'),
  createdAt: createdAt()
}, (table) => [
  uniqueIndex('registration_events_version_key').on(table.registrationId, table.version)
])

/** Every provider callback received, masked, with what Herald did with it. */
export const callbacks = pgTable('callbacks', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  provider: text('provider').notNull(),
  /** provider + reference + result: the same callback twice has the same key. */
  dedupeKey: text('dedupe_key').notNull(),
  orderId: text('order_id'),
  checkoutRequestId: text('checkout_request_id'),
  externalReference: text('external_reference'),
  resultCode: integer('result_code'),
  outcome: text('outcome'),
  disposition: text('disposition').notNull(),
  sourceIp: text('source_ip'),
  payload: jsonb('payload').notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (table) => [
  uniqueIndex('callbacks_dedupe_key_key').on(table.dedupeKey),
  index('callbacks_order_id_idx').on(table.orderId)
])

/** Standard Webhooks `webhook-id`s already processed, with the answer given, for idempotent retries. */
export const webhookReceipts = pgTable('webhook_receipts', {
  webhookId: text('webhook_id').primaryKey(),
  entityType: text('entity_type').notNull(),
  entityId: text('entity_id').notNull(),
  response: jsonb('response').notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
}, (table) => [
  // Receipts past their retention are deleted oldest first.
  index('webhook_receipts_received_at_idx').on(table.receivedAt)
])

/**
 * Events committed with their state change, published to Redis Streams (or waiting to be: see
 * `outboxPending`). Insert-only: publishing never updates a row, so a row costs one heap tuple and its
 * index entries once.
 */
export const outbox = pgTable('outbox', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  entityType: text('entity_type').notNull(),
  entityId: text('entity_id').notNull(),
  version: integer('version').notNull(),
  payload: jsonb('payload').notNull(),
  createdAt: createdAt()
}, (table) => [
  uniqueIndex('outbox_entity_version_key').on(table.entityType, table.entityId, table.version),
  // The reconciler compares the entities of a recent window with what Redis holds; retention deletes by age.
  index('outbox_created_at_idx').on(table.createdAt)
])

/**
 * The outbox rows not yet published: written by the statement that writes the outbox row, deleted by the
 * relay once the event is on its stream. Small (rows live for milliseconds unless Redis is down).
 */
export const outboxPending = pgTable('outbox_pending', {
  id: bigint('id', { mode: 'bigint' }).primaryKey(),
  entityType: text('entity_type').notNull(),
  entityId: text('entity_id').notNull()
}, (table) => [
  // The relay asks "is an earlier version of this entity still unpublished?" before publishing a later one.
  index('outbox_pending_entity_idx').on(table.entityType, table.entityId, table.id)
])

/** Callbacks that arrived before their order was registered; applied when it is. */
export const parkedCallbacks = pgTable('parked_callbacks', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  provider: text('provider').notNull(),
  callbackId: bigint('callback_id', { mode: 'bigint' }),
  checkoutRequestId: text('checkout_request_id'),
  externalReference: text('external_reference'),
  /** PayHero's own `reference` for the payment (PayHero Africa callbacks carry only this and external_reference). */
  providerReference: text('provider_reference'),
  /** The normalized callback (no personal data), re-applied when the order is registered. */
  payload: jsonb('payload').notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  appliedAt: timestamp('applied_at', { withTimezone: true, mode: 'date' }),
  orderId: text('order_id')
}, (table) => [
  index('parked_callbacks_checkout_idx').on(table.checkoutRequestId).where(sql`${table.appliedAt} is null`),
  index('parked_callbacks_external_idx').on(table.externalReference).where(sql`${table.appliedAt} is null`),
  index('parked_callbacks_provider_ref_idx').on(table.providerReference).where(sql`${table.appliedAt} is null`)
])

/** Transitions refused and amounts that did not match: for a human to look at. */
export const reviewItems = pgTable('review_items', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  orderId: text('order_id'),
  kind: text('kind').notNull(),
  fromStatus: text('from_status'),
  attemptedStatus: text('attempted_status'),
  callbackId: bigint('callback_id', { mode: 'bigint' }),
  details: jsonb('details'),
  createdAt: createdAt()
}, (table) => [
  index('review_items_order_id_idx').on(table.orderId)
])

/**
 * One row per back-end webhook endpoint: how far along the outbox (by id, within the committed horizon)
 * its deliveries are, which replica holds its lease, and its health. Healthy delivery writes nothing
 * per event: only this row moves.
 */
export const deliveryCursors = pgTable('delivery_cursors', {
  endpointId: text('endpoint_id').primaryKey(),
  url: text('url').notNull(),
  /** The last outbox id handed to this endpoint (delivered, or moved to delivery_retries). */
  position: bigint('position', { mode: 'bigint' }).notNull().default(sql`0`),
  leaseOwner: text('lease_owner'),
  leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'date' }),
  /** Attempts failed in a row because the endpoint was unreachable or answered 5xx/429/408. */
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  /** While the endpoint is down no new events are read for it: only retries, on schedule. */
  backoffUntil: timestamp('backoff_until', { withTimezone: true, mode: 'date' }),
  lastSuccessAt: timestamp('last_success_at', { withTimezone: true, mode: 'date' }),
  lastFailureAt: timestamp('last_failure_at', { withTimezone: true, mode: 'date' }),
  lastError: text('last_error'),
  updatedAt: updatedAt()
})

/**
 * Events an endpoint has not taken yet: one that failed (waiting for its next attempt) and the later
 * events of the same entity queued behind it, so an entity is delivered in order.
 */
export const deliveryRetries = pgTable('delivery_retries', {
  endpointId: text('endpoint_id').notNull(),
  outboxId: bigint('outbox_id', { mode: 'bigint' }).notNull(),
  entityType: text('entity_type').notNull(),
  entityId: text('entity_id').notNull(),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  lastStatus: integer('last_status'),
  lastError: text('last_error'),
  /** Set for a dead letter sent again, whose outbox row may be gone. */
  payload: jsonb('payload'),
  createdAt: createdAt()
}, (table) => [
  primaryKey({ columns: [table.endpointId, table.outboxId] }),
  index('delivery_retries_entity_idx').on(table.endpointId, table.entityType, table.entityId, table.outboxId)
])

/** Events an endpoint refused through the last attempt: set aside, listed, sent again on an admin's request. */
export const deliveryDeadLetters = pgTable('delivery_dead_letters', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  endpointId: text('endpoint_id').notNull(),
  outboxId: bigint('outbox_id', { mode: 'bigint' }).notNull(),
  entityType: text('entity_type').notNull(),
  entityId: text('entity_id').notNull(),
  /** A copy: the outbox row may be deleted by retention while this waits. */
  payload: jsonb('payload').notNull(),
  attempts: integer('attempts').notNull(),
  lastStatus: integer('last_status'),
  lastError: text('last_error'),
  deadAt: timestamp('dead_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  redeliveredAt: timestamp('redelivered_at', { withTimezone: true, mode: 'date' })
}, (table) => [
  index('delivery_dead_letters_endpoint_idx').on(table.endpointId, table.id)
])

/** The highest outbox id record retention has deleted: the pull feed answers 410 for a cursor before it. */
export const outboxRetention = pgTable('outbox_retention', {
  id: integer('id').primaryKey().default(1),
  deletedThrough: bigint('deleted_through', { mode: 'bigint' }).notNull().default(sql`0`)
})
