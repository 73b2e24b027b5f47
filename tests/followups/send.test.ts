// The follow-up job end to end on each database driver, with a real SMTP server: the right email on
// the right day, exactly once under concurrent pings, and what a failing server leaves behind.

import { and, eq } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { conversations, followupSendAttempts, inboxMessages, notifications } from "../../lib/db/schema.js";
import { DRIVERS, useDatabase } from "../support/databases.js";
import { testConfig } from "../support/config.js";
import { useSmtpServer } from "../support/smtp.js";
import { attemptsOf, historyOf, runFollowups, seedCompany, seedInvoiceFollowup, statusOf } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the due date (2 March) + 7 days, inside business hours. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");

describe.each(DRIVERS)("automatic follow-ups through %s", (driver) => {
  const smtp = useSmtpServer();
  const database = useDatabase(driver, { scope: "test" });
  let config: Config;

  beforeEach(async () => {
    config = testConfig(database, smtp.env());
    await smtp.start();
    smtp.setTemporaryFailure(false);
  });

  it("sends all of a run's follow-ups over one SMTP connection", async () => {
    const companyId = await seedCompany(database.db);
    const seeded = [];
    for (let i = 0; i < 3; i++) seeded.push(await seedInvoiceFollowup(database.db, { companyId }));
    const before = smtp.connectionCount();
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 3, failed: 0 });
    for (const s of seeded) expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
    expect(smtp.connectionCount() - before).toBe(1);
  });

  it("sends the first follow-up on the due date + 7 days and records it in the history, the attempt and the inbox", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    const sunday = await runFollowups(config, new Date("2026-03-08T10:00:00Z"));
    expect(sunday).toMatchObject({ examined: 1, sent: 0, skippedByReason: { not_due_yet: 1 } });

    const monday = await runFollowups(config, FIRST_DAY);
    expect(monday).toMatchObject({ examined: 1, sent: 1, failed: 0, uncertain: 0, remaining: false });
    const [mail, ...others] = smtp.receivedBy(seeded.clientEmail);
    expect(others).toHaveLength(0);
    expect(mail!.parsed.subject).toBe(`Relance : facture ${seeded.invoiceNumber} en attente de règlement`);
    expect(mail!.messageId).toMatch(new RegExp(`^<lokario\\.f${seeded.followupId}\\.s1\\.[0-9a-f]{16}@lokario\\.test>$`));
    expect(mail!.parsed.from?.text).toBe('"Atelier Durand" <relances@lokario.test>');
    expect(mail!.parsed.headers.get("auto-submitted")).toBe("auto-generated");

    const [history] = await historyOf(database.db, seeded.followupId);
    expect(history).toMatchObject({
      step: 1, isAutomatic: true, status: "envoyé", messageType: "email", sentAt: FIRST_DAY,
      recipient: seeded.clientEmail, messageId: mail!.messageId, subject: mail!.parsed.subject,
    });
    expect(history!.smtpResponse).toMatch(/^250/);
    expect(history!.message).toContain("1\u00a0234,50 €");
    const [attempt] = await attemptsOf(database.db, seeded.followupId);
    expect(attempt).toMatchObject({ step: 1, state: "sent", historyId: history!.id, messageId: mail!.messageId });
    const [conversation] = await database.db.select().from(conversations).where(eq(conversations.id, history!.conversationId!));
    expect(conversation).toMatchObject({ clientId: seeded.clientId, status: "En attente", source: "email" });
    const [outbound] = await database.db.select().from(inboxMessages).where(eq(inboxMessages.conversationId, conversation!.id));
    expect(outbound).toMatchObject({ isFromClient: false, read: true, externalId: mail!.messageId, dedupeKey: mail!.messageId!.slice(1, -1) });

    const again = await runFollowups(config, new Date("2026-03-09T10:00:00Z"));
    expect(again).toMatchObject({ sent: 0, skippedByReason: { not_due_yet: 1 } });
    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(1);
  });

  it("sends the second and the last follow-up on their days in the same conversation, then closes the follow-up", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    await runFollowups(config, FIRST_DAY);
    expect(await runFollowups(config, new Date("2026-03-22T09:00:00Z"))).toMatchObject({ sent: 0 });
    expect(await runFollowups(config, new Date("2026-03-23T08:00:00Z"))).toMatchObject({ sent: 1 });
    expect(await runFollowups(config, new Date("2026-04-12T09:00:00Z"))).toMatchObject({ sent: 0 });
    expect(await runFollowups(config, new Date("2026-04-13T06:00:00Z"))).toMatchObject({ sent: 1 });

    const history = await historyOf(database.db, seeded.followupId);
    expect(history.map((h) => h.step)).toEqual([1, 2, 3]);
    expect(new Set(history.map((h) => h.conversationId)).size).toBe(1);
    expect(await statusOf(database.db, seeded.followupId)).toBe("Fait");
    expect(await runFollowups(config, new Date("2026-06-01T08:00:00Z"))).toMatchObject({ examined: 0, sent: 0 });
    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(3);
  });

  it("sends each step exactly once when ten pings run at the same time", async () => {
    const companyId = await seedCompany(database.db);
    const seeded = await Promise.all([1, 2, 3].map(() => seedInvoiceFollowup(database.db, { companyId })));
    const runs = await Promise.all(Array.from({ length: 10 }, () => runFollowups(config, FIRST_DAY)));

    expect(runs.reduce((sum, r) => sum + r.sent, 0)).toBe(3);
    expect(runs.reduce((sum, r) => sum + r.failed, 0)).toBe(0);
    for (const s of seeded) {
      expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
      expect(await historyOf(database.db, s.followupId)).toHaveLength(1);
      expect((await attemptsOf(database.db, s.followupId)).map((a) => a.state)).toEqual(["sent"]);
    }
  });

  it("records nothing while the SMTP server is down and sends on the next run once it is back", async () => {
    const companyId = await seedCompany(database.db);
    const first = await seedInvoiceFollowup(database.db, { companyId });
    const second = await seedInvoiceFollowup(database.db, { companyId });
    await smtp.stop();

    const down = await runFollowups(config, FIRST_DAY);
    expect(down).toMatchObject({ sent: 0, failed: 1, skippedByReason: { smtp_unavailable: 1 } });
    expect(down.failures[0]).toMatchObject({ followupId: first.followupId, step: 1, kind: "transient" });
    expect(await attemptsOf(database.db, first.followupId)).toEqual([]);
    expect(await historyOf(database.db, first.followupId)).toEqual([]);

    await smtp.start();
    const up = await runFollowups(config, new Date("2026-03-09T09:00:00Z"));
    expect(up).toMatchObject({ sent: 2, failed: 0 });
    expect(smtp.receivedBy(first.clientEmail)).toHaveLength(1);
    expect(smtp.receivedBy(second.clientEmail)).toHaveLength(1);
  });

  it("records a recipient refused with 550 once as failed, notifies the company, and still sends the others", async () => {
    const companyId = await seedCompany(database.db);
    const refused = await seedInvoiceFollowup(database.db, { companyId });
    const fine = await seedInvoiceFollowup(database.db, { companyId });
    smtp.rejectRecipient(refused.clientEmail);

    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: 1, failed: 1 });
    expect(run.failures).toEqual([expect.objectContaining({ followupId: refused.followupId, kind: "permanent" })]);
    const [attempt] = await attemptsOf(database.db, refused.followupId);
    expect(attempt).toMatchObject({ state: "failed" });
    expect(attempt!.error).toContain("550");
    expect(await historyOf(database.db, refused.followupId)).toEqual([]);
    expect(smtp.receivedBy(fine.clientEmail)).toHaveLength(1);
    const notices = await database.db.select().from(notifications).where(eq(notifications.companyId, companyId));
    expect(notices.map((n) => n.type)).toEqual(["followup_send_failed"]);

    const next = await runFollowups(config, new Date("2026-03-10T08:00:00Z"));
    expect(next).toMatchObject({ failed: 0, skippedByReason: { previous_send_failed: 1 } });
    expect(await attemptsOf(database.db, refused.followupId)).toHaveLength(1);
  });

  it("never resends a step left 'sending' during its hand-over by a run that died, reports it as uncertain and notifies the company once", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    await database.db.insert(followupSendAttempts).values({
      followupId: seeded.followupId, companyId: seeded.companyId, clientId: seeded.clientId, step: 1, state: "sending",
      messageId: "<lokario.f0.s1.dead@lokario.test>", recipient: seeded.clientEmail, subject: "Relance",
      startedAt: new Date("2026-03-09T07:00:00Z"), leaseUntil: new Date("2026-03-09T07:20:00Z"),
      handedOverAt: new Date("2026-03-09T07:00:01Z"),
    });

    const run = await runFollowups(config, new Date("2026-03-09T09:00:00Z"));
    expect(run).toMatchObject({ uncertain: 1, sent: 0, skippedByReason: { previous_send_uncertain: 1 } });
    const later = await runFollowups(config, new Date("2026-03-10T09:00:00Z"));
    expect(later).toMatchObject({ uncertain: 0, sent: 0, skippedByReason: { previous_send_uncertain: 1 } });

    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(0);
    expect((await attemptsOf(database.db, seeded.followupId)).map((a) => a.state)).toEqual(["uncertain"]);
    const notices = await database.db
      .select()
      .from(notifications)
      .where(and(eq(notifications.companyId, seeded.companyId), eq(notifications.type, "followup_send_uncertain")));
    expect(notices).toHaveLength(1);
  });
});
