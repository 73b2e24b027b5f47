ALTER TABLE "inbox_quarantine" ALTER COLUMN "uidvalidity" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "inbox_quarantine" ALTER COLUMN "uid" DROP NOT NULL;