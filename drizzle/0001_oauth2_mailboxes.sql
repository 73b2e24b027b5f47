CREATE TABLE "oauth_authorization_requests" (
	"state_hash" text PRIMARY KEY NOT NULL,
	"company_id" integer NOT NULL,
	"provider" text NOT NULL,
	"code_verifier" text NOT NULL,
	"redirect_uri" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "auth_method" text DEFAULT 'password' NOT NULL;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "oauth_provider" text;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "oauth_refresh_token" text;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "oauth_access_token" text;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "oauth_access_token_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "oauth_refresh_lease_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "inbox_integrations" ADD COLUMN "oauth_reconnect_needed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "oauth_authorization_requests" ADD CONSTRAINT "oauth_authorization_requests_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;