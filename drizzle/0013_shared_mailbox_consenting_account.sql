ALTER TABLE "inbox_integrations" ADD COLUMN "oauth_consenting_account" text;--> statement-breakpoint
ALTER TABLE "oauth_authorization_requests" ADD COLUMN "mailbox_address" text;--> statement-breakpoint
-- Every mailbox connected before shared mailboxes were consented to by its own account.
UPDATE "inbox_integrations" SET "oauth_consenting_account" = lower(btrim("email_address")) WHERE "auth_method" = 'oauth2';
