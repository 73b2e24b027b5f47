ALTER TABLE "inbox_folder_cursors" ADD COLUMN "opens_read_write" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "inbox_folder_cursors" ADD COLUMN "fetch_shortfall_messages" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "inbox_folder_cursors" ADD COLUMN "fetch_shortfall_at" timestamp with time zone;