// The operator commands that replace hand-written SQL: settling uncertain follow-up sends, importing
// set-aside messages again, and letting a folder stopped by UIDVALIDITY changes sync again. Each runs
// the real `lokario-cron` binary against a real PostgreSQL database.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { followupSendAttempts, inboxIntegrations, inboxMessages, inboxQuarantine } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { createLocalStorage } from "../../lib/storage/attachment-storage.js";
import { testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { useSmtpServer } from "../support/smtp.js";
import { attemptsOf, historyOf, runFollowups, seedCompany, seedInvoiceFollowup, statusOf } from "../followups/seed.js";
import { runCli } from "./run-cli.js";

/** Monday 9 March 2026, 10:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T09:00:00Z");
const MINUTE_MS = 60_000;

describe("lokario-cron operator commands", () => {
  const database = useDatabase("pg");
  const smtp = useSmtpServer();
  let env: Record<string, string>;
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-cli-operator-"));

  beforeAll(async () => {
    env = testEnv(database, { ...smtp.env(), ATTACHMENTS_DIR: attachmentsDir, LOG_LEVEL: "warn" });
  });

  async function seedUncertainAttempt(messageId: string) {
    const seeded = await seedInvoiceFollowup(database.db, { companyId: await seedCompany(database.db) });
    const [attempt] = await database.db
      .insert(followupSendAttempts)
      .values({
        followupId: seeded.followupId, companyId: seeded.companyId, clientId: seeded.clientId, step: 1, state: "uncertain",
        messageId, recipient: seeded.clientEmail, subject: `Relance : facture ${seeded.invoiceNumber} en attente de règlement`,
        startedAt: new Date("2026-03-09T07:00:00Z"), leaseUntil: new Date("2026-03-09T07:20:00Z"),
      })
      .returning({ id: followupSendAttempts.id });
    return { ...seeded, attemptId: attempt!.id };
  }

  it("lists an uncertain send, records it as sent with its own Message-ID, and refuses to resolve it twice", async () => {
    const messageId = "<lokario.f1.s1.0123456789abcdef@lokario.test>";
    const seeded = await seedUncertainAttempt(messageId);

    const listed = await runCli(["followups", "uncertain", "--json"], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ id: seeded.attemptId, messageId, step: 1, recipient: seeded.clientEmail }));

    const resolved = await runCli(["followups", "resolve", String(seeded.attemptId), "--sent"], env);
    expect(resolved).toMatchObject({ code: 0, stderr: "" });
    expect(resolved.stdout).toContain(messageId);
    const [history, ...others] = await historyOf(database.db, seeded.followupId);
    expect(others).toHaveLength(0);
    expect(history).toMatchObject({ step: 1, isAutomatic: true, messageId, recipient: seeded.clientEmail, sentAt: new Date("2026-03-09T07:00:00Z") });
    expect(history!.message).toContain(seeded.invoiceNumber);
    const [attempt] = await attemptsOf(database.db, seeded.followupId);
    expect(attempt).toMatchObject({ state: "sent", historyId: history!.id });
    const outbound = await database.db.select().from(inboxMessages).where(eq(inboxMessages.externalId, messageId));
    expect(outbound).toHaveLength(1);

    const again = await runCli(["followups", "resolve", String(seeded.attemptId), "--sent"], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("is sent, not uncertain");
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(1);
  });

  it("refuses a resolve without exactly one of --sent and --not-sent, with exit code 2", async () => {
    expect((await runCli(["followups", "resolve", "1"], env)).code).toBe(2);
    expect((await runCli(["followups", "resolve", "1", "--sent", "--not-sent"], env)).code).toBe(2);
  });

  it("deletes an attempt resolved as not sent, and the next run sends the step with a new Message-ID", async () => {
    const oldMessageId = "<lokario.f2.s1.fedcba9876543210@lokario.test>";
    const seeded = await seedUncertainAttempt(oldMessageId);

    const resolved = await runCli(["followups", "resolve", String(seeded.attemptId), "--not-sent", "--json"], env);
    expect(resolved.code).toBe(0);
    expect(JSON.parse(resolved.stdout)).toMatchObject({ attemptId: seeded.attemptId, resolution: "not_sent", step: 1 });
    expect(await attemptsOf(database.db, seeded.followupId)).toHaveLength(0);

    const run = await runFollowups(testConfig(database, smtp.env()), FIRST_DAY);
    expect(run).toMatchObject({ sent: 1, failed: 0 });
    const [mail, ...others] = smtp.receivedBy(seeded.clientEmail);
    expect(others).toHaveLength(0);
    expect(mail!.messageId).toMatch(new RegExp(`^<lokario\\.f${seeded.followupId}\\.s1\\.`));
    expect(mail!.messageId).not.toBe(oldMessageId);
    const [history] = await historyOf(database.db, seeded.followupId);
    expect(history!.messageId).toBe(mail!.messageId);
    expect(await statusOf(database.db, seeded.followupId)).not.toBe("Fait");
  });

  it("imports a set-aside message again from its kept raw bytes, as backfill, and removes it from the set-aside list", async () => {
    const companyId = await seedCompany(database.db);
    const [integration] = await database.db
      .insert(inboxIntegrations)
      .values({ companyId, name: "Contact", emailAddress: "contact@atelier.test", isActive: false })
      .returning({ id: inboxIntegrations.id });
    const integrationId = integration!.id;
    const storage = createLocalStorage(attachmentsDir);
    const raw = rawMail({ subject: "Devis cuisine", messageId: `reimport-${integrationId}@example.test` });
    const { path } = await storage.put(`quarantine/${integrationId}/INBOX/77/5.eml`, Buffer.from(raw));
    const notMail = await storage.put(`quarantine/${integrationId}/INBOX/77/6.eml`, Buffer.from("\x00\x01 binary junk"));
    const [good, bad] = await database.db
      .insert(inboxQuarantine)
      .values([
        { integrationId, folder: "INBOX", uidValidity: 77, uid: 5, reason: "message could not be parsed: old parser bug", rawPath: path, sizeBytes: raw.length },
        { integrationId, folder: "INBOX", uidValidity: 77, uid: 6, reason: "not an e-mail", rawPath: notMail.path, sizeBytes: 14 },
      ])
      .returning({ id: inboxQuarantine.id });

    const listed = await runCli(["inbox", "quarantine", "--integration", String(integrationId), "--json"], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id: good!.id, uid: 5, isRawStored: true, reason: "message could not be parsed: old parser bug" }),
      expect.objectContaining({ id: bad!.id, uid: 6, isRawStored: true }),
    ]);

    const imported = await runCli(["inbox", "reimport", String(good!.id)], env);
    expect(imported.code).toBe(0);
    const [message] = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
    expect(message).toMatchObject({ uid: 5, folder: "INBOX", isBackfill: true, read: true });
    expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.id, good!.id))).toHaveLength(0);

    const refused = await runCli(["inbox", "reimport", String(bad!.id)], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("not an e-mail");
    const [kept] = await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.id, bad!.id));
    expect(kept).toMatchObject({ attempts: 2, reason: expect.stringContaining("not an e-mail") });
  });

  it("lets a folder stopped by UIDVALIDITY changing on three syncs in a row sync again, without duplicating its mail", async () => {
    let clockMs = Date.now();
    const sync = () =>
      runJob(syncAllJob, {}, {
        config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir }),
        log: createLogger("test", { level: "silent" }),
        trigger: "test",
        now: () => new Date(clockMs),
      });
    const mailbox = await createMailbox();
    await mailbox.append(rawMail({ subject: "Avant l'arrêt" }));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const row = async () => (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId)))[0]!;
    await sync();
    let validity = await mailbox.uidValidity();
    for (let i = 0; i < 3; i++) {
      validity += 10;
      await mailbox.setUidValidity(validity);
      clockMs += 61 * MINUTE_MS;
      await sync();
    }
    expect((await row()).lastSyncError).toMatch(/UIDVALIDITY of INBOX changed on 3 syncs in a row/);

    const reset = await runCli(["inbox", "reset-folder", String(integrationId), "--json"], env);
    expect(reset.code).toBe(0);
    expect(JSON.parse(reset.stdout)).toMatchObject({ integrationId, folder: "INBOX", isErrorCleared: true });
    expect(await row()).toMatchObject({ nextSyncAt: null, lastSyncError: null });

    await mailbox.append(rawMail({ subject: "Après la remise en route" }));
    clockMs += MINUTE_MS;
    await sync();
    expect(await row()).toMatchObject({ lastSyncStatus: "success", lastSyncError: null });
    const stored = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
    expect(stored).toHaveLength(2);
  });
});
