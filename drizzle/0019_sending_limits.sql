CREATE TABLE "sending_account_waits" (
	"account_key" text PRIMARY KEY NOT NULL,
	"company_id" integer,
	"integration_id" integer,
	"until" timestamp with time zone NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "followup_send_attempts" ADD COLUMN "sender_key" text;--> statement-breakpoint
ALTER TABLE "sending_account_waits" ADD CONSTRAINT "sending_account_waits_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sending_account_waits" ADD CONSTRAINT "sending_account_waits_integration_id_inbox_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."inbox_integrations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "followup_send_attempts_sender_idx" ON "followup_send_attempts" USING btree ("sender_key","started_at");