CREATE TABLE "oauth_start_link_uses" (
	"nonce_hash" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "oauth_authorization_requests" ADD COLUMN "browser_binding_hash" text;--> statement-breakpoint
ALTER TABLE "oauth_authorization_requests" ADD COLUMN "redeemed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "oauth_authorization_requests" ADD COLUMN "email_address" text;--> statement-breakpoint
ALTER TABLE "oauth_authorization_requests" ADD COLUMN "pending_tokens" text;--> statement-breakpoint
CREATE UNIQUE INDEX "oauth_authorization_requests_browser_binding_key" ON "oauth_authorization_requests" USING btree ("browser_binding_hash");