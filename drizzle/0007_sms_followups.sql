CREATE TABLE "sms_opt_outs" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"phone" text NOT NULL,
	"keyword" text NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sms_parts" (
	"id" serial PRIMARY KEY NOT NULL,
	"attempt_id" integer NOT NULL,
	"history_id" integer,
	"company_id" integer NOT NULL,
	"provider" text NOT NULL,
	"provider_message_id" text NOT NULL,
	"part_number" integer NOT NULL,
	"status" text DEFAULT 'submitted' NOT NULL,
	"error_code" text,
	"status_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "followup_history" ADD COLUMN "delivery_status" text;--> statement-breakpoint
ALTER TABLE "followup_history" ADD COLUMN "delivery_status_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "followup_send_attempts" ADD COLUMN "channel" text DEFAULT 'email' NOT NULL;--> statement-breakpoint
ALTER TABLE "sms_opt_outs" ADD CONSTRAINT "sms_opt_outs_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sms_parts" ADD CONSTRAINT "sms_parts_attempt_id_followup_send_attempts_id_fk" FOREIGN KEY ("attempt_id") REFERENCES "public"."followup_send_attempts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sms_parts" ADD CONSTRAINT "sms_parts_history_id_followup_history_id_fk" FOREIGN KEY ("history_id") REFERENCES "public"."followup_history"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sms_parts" ADD CONSTRAINT "sms_parts_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "sms_opt_outs_company_phone_key" ON "sms_opt_outs" USING btree ("company_id","phone");--> statement-breakpoint
CREATE UNIQUE INDEX "sms_parts_provider_message_key" ON "sms_parts" USING btree ("provider","provider_message_id");--> statement-breakpoint
CREATE INDEX "sms_parts_history_idx" ON "sms_parts" USING btree ("history_id");