// The migration that records each SMS attempt's account must give the texts sent before it their
// account, from their parts, so that a client answering STOP to one of them is still heard.

import { asc, eq, sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER } from "../../lib/db/migrate.js";
import { followupSendAttempts, smsOptOuts, smsParts } from "../../lib/db/schema.js";
import { recordInboundText } from "../../lib/sms/record-delivery.js";
import { useDatabase } from "../support/databases.js";
import { seedInvoiceFollowup } from "../followups/seed.js";

describe("the SMS attempt account migration", () => {
  const database = useDatabase("pg", { scope: "test" });

  it("gives each text sent before it the account of its parts, and a STOP to it then opts the client out", async () => {
    const { db } = database;
    const at = new Date("2026-03-10T09:00:00Z");
    const seeded = await seedInvoiceFollowup(db);
    const attempt = (step: number, channel: "sms" | "email", state: "sent" | "uncertain") => ({
      followupId: seeded.followupId, companyId: seeded.companyId, clientId: seeded.clientId, step, channel, state,
      messageId: `ref-${step}`, recipient: channel === "sms" ? "+33612345699" : "client@example.com", subject: "relance",
      leaseUntil: at, startedAt: at, handedOverAt: at,
    });
    const [sent, uncertain, email] = await db.insert(followupSendAttempts)
      .values([attempt(1, "sms", "sent"), attempt(2, "sms", "uncertain"), attempt(3, "email", "sent")])
      .returning({ id: followupSendAttempts.id });
    await db.insert(smsParts).values([1, 2].map((partNumber) => ({
      attemptId: sent!.id, companyId: seeded.companyId, provider: "vonage:abcd1234", providerMessageId: `0A0${partNumber}`, partNumber,
    })));
    // Back to the table before the migration; its statements are then run as the migrator runs them.
    const migration = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).find((m) => m.sql.some((s) => s.includes(`"sms_provider" text`)))!;
    await db.execute(sql.raw(`alter table followup_send_attempts drop column sms_provider, drop column sms_sender`));
    await db.transaction(async (tx) => {
      for (const statement of migration.sql) await tx.execute(sql.raw(statement));
    });

    const rows = await db.select({ id: followupSendAttempts.id, provider: followupSendAttempts.smsProvider }).from(followupSendAttempts).orderBy(asc(followupSendAttempts.id));
    expect(rows).toEqual([{ id: sent!.id, provider: "vonage:abcd1234" }, { id: uncertain!.id, provider: null }, { id: email!.id, provider: null }]);
    expect(await recordInboundText(db, { provider: "vonage:abcd1234", from: "+33612345699", to: "LOKARIO", text: "STOP", at })).toBe("opted_out");
    expect(await db.select({ companyId: smsOptOuts.companyId }).from(smsOptOuts).where(eq(smsOptOuts.phone, "+33612345699"))).toEqual([{ companyId: seeded.companyId }]);
  });
});
