ALTER TABLE "followup_send_attempts" ADD COLUMN "sms_provider" text;--> statement-breakpoint
ALTER TABLE "followup_send_attempts" ADD COLUMN "sms_sender" text;--> statement-breakpoint
-- Texts sent before this migration: their account is the one their parts were recorded under.
UPDATE "followup_send_attempts" AS a SET "sms_provider" = p."provider"
FROM (SELECT DISTINCT ON ("attempt_id") "attempt_id", "provider" FROM "sms_parts" ORDER BY "attempt_id", "part_number") AS p
WHERE p."attempt_id" = a."id" AND a."channel" = 'sms';
