CREATE TABLE "callbacks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"dedupe_key" text NOT NULL,
	"order_id" text,
	"checkout_request_id" text,
	"external_reference" text,
	"result_code" integer,
	"outcome" text,
	"disposition" text NOT NULL,
	"source_ip" text,
	"payload" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "orders" (
	"id" text PRIMARY KEY NOT NULL,
	"order_number" text NOT NULL,
	"total_amount" numeric(14, 2) NOT NULL,
	"currency" text NOT NULL,
	"ticket_count" integer NOT NULL,
	"customer_email" text NOT NULL,
	"customer_first_name" text NOT NULL,
	"customer_last_name" text NOT NULL,
	"customer_phone" text,
	"provider" text NOT NULL,
	"external_reference" text,
	"checkout_request_id" text,
	"merchant_request_id" text,
	"provider_reference" text,
	"payment_status" text DEFAULT 'pending' NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"outcome" text,
	"result_code" integer,
	"result_desc" text,
	"receipt" text,
	"needs_review" boolean DEFAULT false NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"version" integer NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "parked_callbacks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"callback_id" integer,
	"checkout_request_id" text,
	"external_reference" text,
	"payload" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"applied_at" timestamp with time zone,
	"order_id" text
);
--> statement-breakpoint
CREATE TABLE "registration_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"registration_id" text NOT NULL,
	"version" integer NOT NULL,
	"kind" text NOT NULL,
	"stage" text NOT NULL,
	"status" text NOT NULL,
	"message" text NOT NULL,
	"details" jsonb,
	"process_log" jsonb,
	"webhook_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "registrations" (
	"id" text PRIMARY KEY NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"stage" text DEFAULT '' NOT NULL,
	"message" text DEFAULT '' NOT NULL,
	"details" jsonb,
	"process_log" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"version" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "review_items" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"order_id" text,
	"kind" text NOT NULL,
	"from_status" text,
	"attempted_status" text,
	"callback_id" integer,
	"details" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_receipts" (
	"webhook_id" text PRIMARY KEY NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"response" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "callbacks_dedupe_key_key" ON "callbacks" USING btree ("dedupe_key");--> statement-breakpoint
CREATE INDEX "callbacks_order_id_idx" ON "callbacks" USING btree ("order_id");--> statement-breakpoint
CREATE UNIQUE INDEX "orders_external_reference_key" ON "orders" USING btree ("external_reference") WHERE "orders"."external_reference" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "orders_checkout_request_id_key" ON "orders" USING btree ("checkout_request_id") WHERE "orders"."checkout_request_id" is not null;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "outbox" USING btree ("id") WHERE "outbox"."published_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_entity_version_key" ON "outbox" USING btree ("entity_type","entity_id","version");--> statement-breakpoint
CREATE INDEX "parked_callbacks_checkout_idx" ON "parked_callbacks" USING btree ("checkout_request_id") WHERE "parked_callbacks"."applied_at" is null;--> statement-breakpoint
CREATE INDEX "parked_callbacks_external_idx" ON "parked_callbacks" USING btree ("external_reference") WHERE "parked_callbacks"."applied_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "registration_events_version_key" ON "registration_events" USING btree ("registration_id","version");--> statement-breakpoint
CREATE INDEX "review_items_order_id_idx" ON "review_items" USING btree ("order_id");