-- ---------------------------------------------------------------------------------------------
-- Data fix-up, kept apart so it can be carried over when migrations are regenerated; it must run
-- BEFORE the unique index below. Deployments may already hold the same mailbox twice (same company,
-- login and server, both active): the index would then fail to build. Of each such group, the row kept
-- active is the primary one if any, else the oldest (lowest id); the others are deactivated, lose
-- is_primary, and say why in last_sync_error. Nothing is deleted: their mail stays where it is.
WITH ranked AS (
  SELECT id,
         first_value(id) OVER same_mailbox AS kept_id,
         row_number() OVER same_mailbox AS rank
  FROM inbox_integrations
  WHERE is_active
  WINDOW same_mailbox AS (
    PARTITION BY company_id,
                 lower(coalesce(nullif(btrim(imap_username), ''), btrim(email_address))),
                 lower(btrim(imap_server))
    ORDER BY is_primary DESC, id ASC
  )
)
UPDATE inbox_integrations AS i
SET is_active = false,
    is_primary = false,
    last_sync_status = 'error',
    last_sync_error = 'deactivated: duplicate of integration ' || ranked.kept_id || ' (same company, login and server)',
    updated_at = now()
FROM ranked
WHERE i.id = ranked.id AND ranked.rank > 1;--> statement-breakpoint
-- End of the data fix-up.
-- ---------------------------------------------------------------------------------------------
CREATE UNIQUE INDEX "inbox_integrations_mailbox_key" ON "inbox_integrations" USING btree ("company_id",lower(coalesce(nullif(btrim("imap_username"), ''), btrim("email_address"))),lower(btrim("imap_server"))) WHERE "inbox_integrations"."is_active";
