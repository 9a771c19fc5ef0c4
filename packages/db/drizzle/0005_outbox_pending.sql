CREATE TABLE "outbox_pending" (
	"id" bigint PRIMARY KEY NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL
);
--> statement-breakpoint
CREATE INDEX "outbox_pending_entity_idx" ON "outbox_pending" USING btree ("entity_type","entity_id","id");--> statement-breakpoint
-- No writer commits an outbox row from here to the end of the migration: every row committed before is
-- copied, and a writer of the previous release, whose statements name published_at, fails from then on.
LOCK TABLE "outbox" IN ACCESS EXCLUSIVE MODE;--> statement-breakpoint
INSERT INTO "outbox_pending" ("id", "entity_type", "entity_id") SELECT "id", "entity_type", "entity_id" FROM "outbox" WHERE "published_at" IS NULL;--> statement-breakpoint
DROP INDEX "outbox_unpublished_idx";--> statement-breakpoint
DROP INDEX "outbox_unpublished_entity_idx";--> statement-breakpoint
DROP INDEX "outbox_published_recent_idx";--> statement-breakpoint
CREATE INDEX "outbox_created_at_idx" ON "outbox" USING btree ("created_at");--> statement-breakpoint
ALTER TABLE "outbox" DROP COLUMN "published_at";
