CREATE TABLE "delivery_cursors" (
	"endpoint_id" text PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"position" bigint DEFAULT 0 NOT NULL,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"backoff_until" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"last_failure_at" timestamp with time zone,
	"last_error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "delivery_dead_letters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"endpoint_id" text NOT NULL,
	"outbox_id" bigint NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"attempts" integer NOT NULL,
	"last_status" integer,
	"last_error" text,
	"dead_at" timestamp with time zone DEFAULT now() NOT NULL,
	"redelivered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "delivery_retries" (
	"endpoint_id" text NOT NULL,
	"outbox_id" bigint NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_status" integer,
	"last_error" text,
	"payload" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "delivery_retries_endpoint_id_outbox_id_pk" PRIMARY KEY("endpoint_id","outbox_id")
);
--> statement-breakpoint
CREATE TABLE "outbox_retention" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"deleted_through" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "delivery_dead_letters_endpoint_idx" ON "delivery_dead_letters" USING btree ("endpoint_id","id");--> statement-breakpoint
CREATE INDEX "delivery_retries_entity_idx" ON "delivery_retries" USING btree ("endpoint_id","entity_type","entity_id","outbox_id");