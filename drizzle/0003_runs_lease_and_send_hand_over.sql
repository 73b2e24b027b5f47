ALTER TABLE "followup_send_attempts" ADD COLUMN "handed_over_at" timestamp with time zone;--> statement-breakpoint
-- Attempts interrupted before this column existed may have reached the server: count them as handed over, so none is retried automatically.
UPDATE "followup_send_attempts" SET "handed_over_at" = "started_at" WHERE "state" IN ('sending', 'uncertain');--> statement-breakpoint
ALTER TABLE "job_runs" ADD COLUMN "lease_until" timestamp with time zone;--> statement-breakpoint
-- Runs recorded before: the longest budget allowed (RUN_BUDGET_MS <= 15 min) plus the 5-minute grace.
UPDATE "job_runs" SET "lease_until" = "started_at" + interval '20 minutes';--> statement-breakpoint
ALTER TABLE "job_runs" ALTER COLUMN "lease_until" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "job_runs_status_idx" ON "job_runs" USING btree ("status");
