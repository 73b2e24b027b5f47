CREATE TABLE "clients" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"name" text NOT NULL,
	"email" text,
	"phone" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "companies" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "company_settings" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "company_settings_company_id_unique" UNIQUE("company_id")
);
--> statement-breakpoint
CREATE TABLE "conversations" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"client_id" integer,
	"integration_id" integer,
	"subject" text,
	"subject_key" text,
	"status" text DEFAULT 'À répondre' NOT NULL,
	"source" text DEFAULT 'email' NOT NULL,
	"unread_count" integer DEFAULT 0 NOT NULL,
	"last_message_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "followup_history" (
	"id" serial PRIMARY KEY NOT NULL,
	"followup_id" integer NOT NULL,
	"company_id" integer NOT NULL,
	"message" text,
	"message_type" text DEFAULT 'email' NOT NULL,
	"status" text DEFAULT 'envoyé' NOT NULL,
	"sent_by_name" text,
	"sent_at" timestamp with time zone,
	"conversation_id" integer,
	"step" integer,
	"is_automatic" boolean DEFAULT false NOT NULL,
	"subject" text,
	"recipient" text,
	"message_id" text,
	"smtp_response" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "followup_send_attempts" (
	"id" serial PRIMARY KEY NOT NULL,
	"followup_id" integer NOT NULL,
	"company_id" integer NOT NULL,
	"client_id" integer,
	"step" integer NOT NULL,
	"state" text DEFAULT 'sending' NOT NULL,
	"message_id" text NOT NULL,
	"recipient" text NOT NULL,
	"subject" text NOT NULL,
	"smtp_response" text,
	"error" text,
	"history_id" integer,
	"lease_until" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "followups" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"client_id" integer,
	"type" text NOT NULL,
	"source_type" text DEFAULT 'manual' NOT NULL,
	"source_id" integer,
	"source_label" text,
	"due_date" timestamp with time zone,
	"status" text DEFAULT 'À faire' NOT NULL,
	"amount" numeric(10, 2),
	"auto_enabled" boolean DEFAULT false NOT NULL,
	"auto_frequency_days" integer,
	"auto_stop_on_response" boolean DEFAULT true NOT NULL,
	"auto_stop_on_paid" boolean DEFAULT true NOT NULL,
	"auto_stop_on_refused" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inbox_folder_cursors" (
	"id" serial PRIMARY KEY NOT NULL,
	"integration_id" integer NOT NULL,
	"folder" text NOT NULL,
	"uidvalidity" bigint NOT NULL,
	"last_uid" bigint DEFAULT 0 NOT NULL,
	"uidvalidity_changes" integer DEFAULT 0 NOT NULL,
	"backfill_until_uid" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inbox_integrations" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"integration_type" text DEFAULT 'imap' NOT NULL,
	"name" text,
	"imap_server" text,
	"imap_port" integer DEFAULT 993,
	"email_address" text,
	"imap_username" text,
	"email_password" text,
	"use_ssl" boolean DEFAULT true NOT NULL,
	"tls_reject_unauthorized" boolean DEFAULT true NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"is_primary" boolean DEFAULT false NOT NULL,
	"sync_interval_minutes" integer DEFAULT 5 NOT NULL,
	"last_sync_at" timestamp with time zone,
	"last_sync_status" text,
	"last_sync_error" text,
	"initial_sync_days" integer DEFAULT 30 NOT NULL,
	"initial_sync_max_messages" integer DEFAULT 500 NOT NULL,
	"next_sync_at" timestamp with time zone,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"auth_failures" integer DEFAULT 0 NOT NULL,
	"failing_since" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"failure_alerted_at" timestamp with time zone,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"smtp_server" text,
	"smtp_port" integer,
	"smtp_use_ssl" boolean,
	"smtp_username" text,
	"smtp_password" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inbox_messages" (
	"id" serial PRIMARY KEY NOT NULL,
	"conversation_id" integer NOT NULL,
	"from_name" text,
	"from_email" text,
	"content" text,
	"source" text DEFAULT 'email' NOT NULL,
	"is_from_client" boolean DEFAULT true NOT NULL,
	"read" boolean DEFAULT false NOT NULL,
	"external_id" text,
	"external_metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"integration_id" integer,
	"folder" text,
	"uidvalidity" bigint,
	"uid" bigint,
	"dedupe_key" text NOT NULL,
	"html_content" text,
	"is_auto_reply" boolean DEFAULT false NOT NULL,
	"is_bounce" boolean DEFAULT false NOT NULL,
	"is_backfill" boolean DEFAULT false NOT NULL,
	"size_bytes" integer,
	"imported_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inbox_quarantine" (
	"id" serial PRIMARY KEY NOT NULL,
	"integration_id" integer NOT NULL,
	"folder" text NOT NULL,
	"uidvalidity" bigint NOT NULL,
	"uid" bigint NOT NULL,
	"reason" text NOT NULL,
	"raw_path" text,
	"size_bytes" integer,
	"attempts" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invoices" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"client_id" integer,
	"number" text NOT NULL,
	"status" text DEFAULT 'brouillon' NOT NULL,
	"total_ttc" numeric(10, 2),
	"amount" numeric(10, 2),
	"due_date" timestamp with time zone,
	"paid_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "job_runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"run_id" text NOT NULL,
	"job" text NOT NULL,
	"trigger" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"status" text DEFAULT 'running' NOT NULL,
	"summary" jsonb,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_runs_run_id_unique" UNIQUE("run_id")
);
--> statement-breakpoint
CREATE TABLE "message_attachments" (
	"id" serial PRIMARY KEY NOT NULL,
	"message_id" integer NOT NULL,
	"name" text NOT NULL,
	"file_type" text DEFAULT 'other' NOT NULL,
	"file_path" text,
	"file_size" bigint,
	"mime_type" text,
	"content_id" text,
	"is_stored" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notifications" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"type" text NOT NULL,
	"title" text NOT NULL,
	"message" text NOT NULL,
	"link" text,
	"read" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "quotes" (
	"id" serial PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"client_id" integer,
	"number" text NOT NULL,
	"status" text DEFAULT 'brouillon' NOT NULL,
	"total_ttc" numeric(10, 2),
	"amount" numeric(10, 2),
	"valid_until" timestamp with time zone,
	"accepted_at" timestamp with time zone,
	"refused_at" timestamp with time zone,
	"client_signature_path" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stored_files" (
	"key" text PRIMARY KEY NOT NULL,
	"content" "bytea" NOT NULL,
	"size_bytes" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "clients" ADD CONSTRAINT "clients_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "company_settings" ADD CONSTRAINT "company_settings_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_client_id_clients_id_fk" FOREIGN KEY ("client_id") REFERENCES "public"."clients"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "conversations" ADD CONSTRAINT "conversations_integration_id_inbox_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."inbox_integrations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "followup_history" ADD CONSTRAINT "followup_history_followup_id_followups_id_fk" FOREIGN KEY ("followup_id") REFERENCES "public"."followups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "followup_history" ADD CONSTRAINT "followup_history_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "followup_history" ADD CONSTRAINT "followup_history_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "followup_send_attempts" ADD CONSTRAINT "followup_send_attempts_followup_id_followups_id_fk" FOREIGN KEY ("followup_id") REFERENCES "public"."followups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "followup_send_attempts" ADD CONSTRAINT "followup_send_attempts_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "followups" ADD CONSTRAINT "followups_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "followups" ADD CONSTRAINT "followups_client_id_clients_id_fk" FOREIGN KEY ("client_id") REFERENCES "public"."clients"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "inbox_folder_cursors" ADD CONSTRAINT "inbox_folder_cursors_integration_id_inbox_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."inbox_integrations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD CONSTRAINT "inbox_integrations_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD CONSTRAINT "inbox_messages_conversation_id_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD CONSTRAINT "inbox_messages_integration_id_inbox_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."inbox_integrations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "inbox_quarantine" ADD CONSTRAINT "inbox_quarantine_integration_id_inbox_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."inbox_integrations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_client_id_clients_id_fk" FOREIGN KEY ("client_id") REFERENCES "public"."clients"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "message_attachments" ADD CONSTRAINT "message_attachments_message_id_inbox_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."inbox_messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "quotes" ADD CONSTRAINT "quotes_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "quotes" ADD CONSTRAINT "quotes_client_id_clients_id_fk" FOREIGN KEY ("client_id") REFERENCES "public"."clients"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "clients_company_email_idx" ON "clients" USING btree ("company_id",lower("email"));--> statement-breakpoint
CREATE INDEX "conversations_company_subject_idx" ON "conversations" USING btree ("company_id","subject_key");--> statement-breakpoint
CREATE INDEX "followup_history_followup_idx" ON "followup_history" USING btree ("followup_id","sent_at");--> statement-breakpoint
CREATE INDEX "followup_history_message_id_idx" ON "followup_history" USING btree ("message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "followup_send_attempts_step_key" ON "followup_send_attempts" USING btree ("followup_id","step");--> statement-breakpoint
CREATE INDEX "followup_send_attempts_client_day_idx" ON "followup_send_attempts" USING btree ("client_id","started_at");--> statement-breakpoint
CREATE INDEX "followups_auto_idx" ON "followups" USING btree ("auto_enabled","status");--> statement-breakpoint
CREATE UNIQUE INDEX "inbox_folder_cursors_integration_folder_key" ON "inbox_folder_cursors" USING btree ("integration_id","folder");--> statement-breakpoint
CREATE INDEX "inbox_integrations_due_idx" ON "inbox_integrations" USING btree ("is_active","next_sync_at");--> statement-breakpoint
CREATE UNIQUE INDEX "inbox_messages_integration_uid_key" ON "inbox_messages" USING btree ("integration_id","folder","uidvalidity","uid");--> statement-breakpoint
CREATE UNIQUE INDEX "inbox_messages_integration_dedupe_key" ON "inbox_messages" USING btree ("integration_id","dedupe_key");--> statement-breakpoint
CREATE INDEX "inbox_messages_conversation_idx" ON "inbox_messages" USING btree ("conversation_id","created_at");--> statement-breakpoint
CREATE INDEX "inbox_messages_external_id_idx" ON "inbox_messages" USING btree ("external_id");--> statement-breakpoint
CREATE UNIQUE INDEX "inbox_quarantine_integration_uid_key" ON "inbox_quarantine" USING btree ("integration_id","folder","uidvalidity","uid");--> statement-breakpoint
CREATE INDEX "job_runs_job_started_idx" ON "job_runs" USING btree ("job","started_at");--> statement-breakpoint
CREATE INDEX "message_attachments_message_idx" ON "message_attachments" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "notifications_company_idx" ON "notifications" USING btree ("company_id","created_at");