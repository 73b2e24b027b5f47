// The migration that makes a mailbox unique per company must succeed on a deployment that already
// holds the same mailbox twice: it keeps one active row and deactivates the others, saying why.

import { asc, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { MIGRATIONS_FOLDER } from "../../lib/db/migrate.js";
import { companies, inboxIntegrations, INTEGRATION_UNIQUE_INDEX } from "../../lib/db/schema.js";
import { useDatabase } from "../support/databases.js";

describe("the unique-mailbox migration", () => {
  const database = useDatabase("pg", { scope: "test" });

  it("keeps the primary (else the oldest) of each duplicated mailbox active and deactivates the others with a reason", async () => {
    const { db } = database;
    // Back to the state before the migration (no index); its statements are then run as the
    // migrator runs them. Later migrations stay applied: they do not touch this index.
    const migration = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).find((m) => m.sql.some((s) => s.includes(INTEGRATION_UNIQUE_INDEX)))!;
    await db.execute(sql.raw(`drop index "${INTEGRATION_UNIQUE_INDEX}"`));

    const [company] = await db.insert(companies).values({ name: "Doublons" }).returning();
    const row = (values: Partial<typeof inboxIntegrations.$inferInsert>) => ({
      companyId: company!.id, imapServer: "imap.doublons.fr", emailAddress: "contact@doublons.fr", ...values,
    });
    const inserted = await db.insert(inboxIntegrations).values([
      row({}),                                                   // oldest of group A: kept
      row({ emailAddress: "CONTACT@doublons.fr" }),              // duplicate of A
      row({ imapServer: "IMAP.doublons.fr", isActive: false }),  // already inactive: untouched
      row({ emailAddress: "compta@doublons.fr" }),               // group B, not primary
      row({ emailAddress: "compta@doublons.fr", isPrimary: true }), // group B's primary: kept
      row({ emailAddress: "autre@doublons.fr" }),                // alone: untouched
    ]).returning({ id: inboxIntegrations.id });
    const ids = inserted.map((r) => r.id);

    await db.transaction(async (tx) => {
      for (const statement of migration.sql) await tx.execute(sql.raw(statement));
    });

    const after = await db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, company!.id)).orderBy(asc(inboxIntegrations.id));
    expect(after.map((r) => r.isActive)).toEqual([true, false, false, false, true, true]);
    expect(after[1]).toMatchObject({ lastSyncStatus: "error", lastSyncError: `deactivated: duplicate of integration ${ids[0]} (same company, login and server)` });
    expect(after[3]).toMatchObject({ isPrimary: false, lastSyncError: `deactivated: duplicate of integration ${ids[4]} (same company, login and server)` });
    expect(after[2]!.lastSyncError).toBeNull();
    expect(after[4]!.isPrimary).toBe(true);
    await expect(db.insert(inboxIntegrations).values(row({}))).rejects.toBeTruthy();
  });
});
