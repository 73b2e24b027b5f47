// The migration that keys messages per company mailbox must succeed on a deployment that already
// holds the same message twice for one mailbox (a mailbox disabled and added again): every row
// stays, the first copy enters the new unique index and the later ones stay outside it. It also
// dates each mailbox's connection from its creation.

import { asc, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { rowsOf } from "../../lib/db/client.js";
import { MIGRATIONS_FOLDER } from "../../lib/db/migrate.js";
import { inboxIntegrations, inboxMessages, MESSAGE_MAILBOX_UNIQUE_INDEX } from "../../lib/db/schema.js";
import { useDatabase } from "../support/databases.js";

describe("the message-per-company-mailbox migration", () => {
  const database = useDatabase("pg", { scope: "test" });

  it("gives imported messages their company mailbox, leaves later copies and other rows outside the index, and keeps every row", async () => {
    const { db } = database;
    // Back to the state before the migration; its statements are then run as the migrator runs them.
    const migration = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).find((m) => m.sql.some((s) => s.includes(MESSAGE_MAILBOX_UNIQUE_INDEX)))!;
    await db.execute(sql.raw(`drop index "${MESSAGE_MAILBOX_UNIQUE_INDEX}"`));
    await db.execute(sql.raw(`alter table inbox_messages drop column company_id, drop column mailbox_address`));
    await db.execute(sql.raw(`alter table inbox_integrations drop column connected_at`));

    const one = async (query: ReturnType<typeof sql>) => Number(rowsOf<{ id: number }>(await db.execute(query))[0]!.id);
    const companyId = await one(sql`insert into companies (name) values ('Couverture Blanc') returning id`);
    const integration = (address: string | null, isActive: boolean) =>
      one(sql`insert into inbox_integrations (company_id, imap_server, email_address, is_active, created_at)
        values (${companyId}, 'imap.blanc.fr', ${address}, ${isActive}, '2025-06-01T08:00:00Z') returning id`);
    const disabled = await integration("Contact@Blanc.fr", false);
    const twin = await integration(" contact@blanc.fr ", true);
    const withoutAddress = await integration(null, true);
    const conversationId = await one(sql`insert into conversations (company_id) values (${companyId}) returning id`);
    const message = (integrationId: number | null, dedupeKey: string, folder: string | null = "INBOX") =>
      one(sql`insert into inbox_messages (conversation_id, integration_id, folder, dedupe_key)
        values (${conversationId}, ${integrationId}, ${folder}, ${dedupeKey}) returning id`);
    const ids = {
      first: await message(disabled, "a@client.fr"),
      own: await message(disabled, "b@client.fr"),
      copy: await message(twin, "a@client.fr"),
      twinOwn: await message(twin, "c@client.fr"),
      followup: await message(twin, "d@blanc.fr", null),
      detached: await message(null, "a@client.fr"),
      noAddress: await message(withoutAddress, "e@client.fr"),
    };

    await db.transaction(async (tx) => {
      for (const statement of migration.sql) await tx.execute(sql.raw(statement));
    });

    const rows = await db
      .select({ id: inboxMessages.id, companyId: inboxMessages.companyId, mailboxAddress: inboxMessages.mailboxAddress })
      .from(inboxMessages)
      .orderBy(asc(inboxMessages.id));
    const ofMailbox = { companyId, mailboxAddress: "contact@blanc.fr" };
    expect(rows).toEqual([
      { id: ids.first, ...ofMailbox },
      { id: ids.own, ...ofMailbox },
      { id: ids.copy, companyId, mailboxAddress: null },
      { id: ids.twinOwn, ...ofMailbox },
      { id: ids.followup, companyId: null, mailboxAddress: null },
      { id: ids.detached, companyId: null, mailboxAddress: null },
      { id: ids.noAddress, companyId, mailboxAddress: null },
    ]);
    const [connected] = await db.select({ connectedAt: inboxIntegrations.connectedAt }).from(inboxIntegrations).where(eq(inboxIntegrations.id, twin));
    expect(connected!.connectedAt.toISOString()).toBe("2025-06-01T08:00:00.000Z");
    await expect(
      db.execute(sql`insert into inbox_messages (conversation_id, integration_id, folder, dedupe_key, company_id, mailbox_address)
        values (${conversationId}, ${twin}, 'Sent', 'a@client.fr', ${companyId}, 'contact@blanc.fr')`),
    ).rejects.toMatchObject({ cause: expect.objectContaining({ code: "23505" }) });
  });
});
