CREATE TABLE "mail_push_subscriptions" (
	"id" serial PRIMARY KEY NOT NULL,
	"integration_id" integer NOT NULL,
	"provider" text NOT NULL,
	"folder" text NOT NULL,
	"subscription_id" text,
	"client_state_hash" text,
	"expires_at" timestamp with time zone,
	"state" text DEFAULT 'active' NOT NULL,
	"last_error" text,
	"last_notified_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "inbox_folder_cursors" ADD COLUMN "source_cursor" text;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "mail_transport" text DEFAULT 'imap' NOT NULL;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "mail_transport_reason" text;--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD COLUMN "source_message_id" text;--> statement-breakpoint
ALTER TABLE "inbox_quarantine" ADD COLUMN "source_message_id" text;--> statement-breakpoint
ALTER TABLE "mail_push_subscriptions" ADD CONSTRAINT "mail_push_subscriptions_integration_id_inbox_integrations_id_fk" FOREIGN KEY ("integration_id") REFERENCES "public"."inbox_integrations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "mail_push_subscriptions_integration_folder_key" ON "mail_push_subscriptions" USING btree ("integration_id","provider","folder");--> statement-breakpoint
CREATE UNIQUE INDEX "mail_push_subscriptions_provider_id_key" ON "mail_push_subscriptions" USING btree ("provider","subscription_id");--> statement-breakpoint
CREATE INDEX "mail_push_subscriptions_expiry_idx" ON "mail_push_subscriptions" USING btree ("state","expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "inbox_messages_integration_source_id_key" ON "inbox_messages" USING btree ("integration_id","folder","source_message_id");--> statement-breakpoint
CREATE UNIQUE INDEX "inbox_quarantine_integration_source_id_key" ON "inbox_quarantine" USING btree ("integration_id","folder","source_message_id");