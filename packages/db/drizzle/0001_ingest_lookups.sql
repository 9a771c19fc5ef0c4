ALTER TABLE "parked_callbacks" ALTER COLUMN "callback_id" SET DATA TYPE bigint;--> statement-breakpoint
ALTER TABLE "review_items" ALTER COLUMN "callback_id" SET DATA TYPE bigint;--> statement-breakpoint
ALTER TABLE "parked_callbacks" ADD COLUMN "provider_reference" text;--> statement-breakpoint
CREATE INDEX "orders_provider_reference_idx" ON "orders" USING btree ("provider_reference") WHERE "orders"."provider_reference" is not null;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_entity_idx" ON "outbox" USING btree ("entity_type","entity_id","id") WHERE "outbox"."published_at" is null;--> statement-breakpoint
CREATE INDEX "parked_callbacks_provider_ref_idx" ON "parked_callbacks" USING btree ("provider_reference") WHERE "parked_callbacks"."applied_at" is null;