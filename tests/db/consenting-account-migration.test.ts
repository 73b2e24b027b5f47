// The migration that records who consented to an OAuth2 mailbox must give the mailboxes connected
// before it their own address as consenting account: they were all consented to by their owner, so
// none of them may read as a shared mailbox (whose reconnection would then ask for `--mailbox`).

import { asc, sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER } from "../../lib/db/migrate.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { useDatabase } from "../support/databases.js";
import { seedCompany } from "../followups/seed.js";

describe("the consenting account migration", () => {
  const database = useDatabase("pg", { scope: "test" });

  it("gives each OAuth2 mailbox connected before it its own address as consenting account, and password mailboxes none", async () => {
    const { db } = database;
    const companyId = await seedCompany(db);
    const mailbox = (emailAddress: string, authMethod: "oauth2" | "password") => ({
      companyId, emailAddress, authMethod, imapServer: "outlook.office365.com", isActive: false,
    });
    const [oauth, password] = await db.insert(inboxIntegrations)
      .values([mailbox(" Contact@Example.fr ", "oauth2"), mailbox("devis@example.fr", "password")])
      .returning({ id: inboxIntegrations.id });
    // Back to the tables before the migration; its statements are then run as the migrator runs them.
    const migration = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).find((m) => m.sql.some((s) => s.includes(`"oauth_consenting_account" text`)))!;
    await db.execute(sql.raw(`alter table inbox_integrations drop column oauth_consenting_account`));
    await db.execute(sql.raw(`alter table oauth_authorization_requests drop column mailbox_address`));
    await db.transaction(async (tx) => {
      for (const statement of migration.sql) await tx.execute(sql.raw(statement));
    });

    const rows = await db.select({ id: inboxIntegrations.id, account: inboxIntegrations.oauthConsentingAccount }).from(inboxIntegrations).orderBy(asc(inboxIntegrations.id));
    expect(rows).toEqual([{ id: oauth!.id, account: "contact@example.fr" }, { id: password!.id, account: null }]);
  });
});
