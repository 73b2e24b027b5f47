ALTER TABLE "inbox_integrations" ADD COLUMN "last_sync_error_kind" text;--> statement-breakpoint
-- Failures recorded before the kind was: a refused login is the one kind the counters tell.
UPDATE "inbox_integrations" SET "last_sync_error_kind" = 'auth' WHERE "last_sync_status" = 'error' AND "auth_failures" > 0;
