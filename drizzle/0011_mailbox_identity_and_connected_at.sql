ALTER TABLE "inbox_integrations" ADD COLUMN "connected_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD COLUMN "company_id" integer;--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD COLUMN "mailbox_address" text;--> statement-breakpoint
ALTER TABLE "inbox_messages" ADD CONSTRAINT "inbox_messages_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- ---------------------------------------------------------------------------------------------
-- Data fix-up, kept apart so it can be carried over when migrations are regenerated; it must run
-- BEFORE the unique index below.
-- A mailbox already connected was connected when its row was created.
UPDATE "inbox_integrations" SET "connected_at" = "created_at";--> statement-breakpoint
-- The messages the sync imported (they have a folder; a follow-up recorded by the job has none)
-- get the company mailbox of their integration. Deployments may already hold the same message
-- twice for one mailbox (a mailbox disabled and added again imported it a second time): only the
-- first copy (lowest id) gets the address, so the index can be built; the later copies keep their
-- rows, outside the index. Nothing is deleted. Messages of a mailbox already removed have no
-- integration left to name their mailbox: they stay outside the index too.
WITH "imported" AS (
  SELECT m."id",
         i."company_id",
         nullif(lower(btrim(i."email_address")), '') AS "address",
         row_number() OVER (
           PARTITION BY i."company_id", nullif(lower(btrim(i."email_address")), ''), m."dedupe_key"
           ORDER BY m."id"
         ) AS "copy"
  FROM "inbox_messages" m
  JOIN "inbox_integrations" i ON i."id" = m."integration_id"
  WHERE m."folder" IS NOT NULL
)
UPDATE "inbox_messages" AS m
SET "company_id" = "imported"."company_id",
    "mailbox_address" = CASE WHEN "imported"."copy" = 1 THEN "imported"."address" END
FROM "imported"
WHERE m."id" = "imported"."id";--> statement-breakpoint
-- End of the data fix-up.
-- ---------------------------------------------------------------------------------------------
CREATE UNIQUE INDEX "inbox_messages_mailbox_dedupe_key" ON "inbox_messages" USING btree ("company_id","mailbox_address","dedupe_key");
