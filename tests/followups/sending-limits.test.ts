// The providers' sending limits: a quota answer (Microsoft's 554 5.2.0 SubmissionQuotaExceeded,
// Gmail's 550 5.4.5 daily quota, 452 4.5.3 too many recipients) means the account must wait, never
// that the follow-up is refused; and an account never sends more than its provider allows in a
// minute, an hour or a day, counted across runs, with a company's own override.

import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { inboxIntegrations, sendingAccountWaits } from "../../lib/db/schema.js";
import type { Db } from "../../lib/db/client.js";
import { createLogger } from "../../lib/log.js";
import { readFollowups } from "../../lib/ops/page/read-followups.js";
import { renderFollowups } from "../../lib/ops/page/render-followups.js";
import { DateFormats } from "../../lib/ops/page/render-format.js";
import { useDatabase } from "../support/databases.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { type TestSmtpServer, useSmtpServer } from "../support/smtp.js";
import { attemptsOf, runFollowups, type SeededInvoiceFollowup, seedCompany, seedInvoiceFollowup, statusOf, SWITCHED_ON } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");
const at = (from: Date, ms: number) => new Date(from.getTime() + ms);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Microsoft 365's answer once a mailbox has sent its recipients of the day. */
const MICROSOFT_QUOTA = {
  code: 554,
  text: "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Message submission quota exceeded",
};
/** Gmail's answer once a user has sent its messages of the day. */
const GMAIL_QUOTA = { code: 550, text: "5.4.5 Daily user sending quota exceeded. For more information, go to https://support.google.com/a/answer/166852" };

describe("a sending account at its provider's limits", () => {
  const smtp = useSmtpServer({ scope: "test" });
  const database = useDatabase("pg", { scope: "test" });

  /** A company whose primary mailbox is at `provider` (by its address and IMAP server), sending through the test server. */
  async function seedMailboxCompany(db: Db, server: TestSmtpServer, mailbox: { emailAddress: string; imapServer: string }, settings: unknown = SWITCHED_ON) {
    const companyId = await seedCompany(db, settings);
    const [integration] = await db.insert(inboxIntegrations).values({
      companyId, name: "Boîte principale", imapServer: mailbox.imapServer, emailAddress: mailbox.emailAddress,
      emailPassword: encryptSecret("imap-pass", { encryptionKey: TEST_ENCRYPTION_KEY }), isPrimary: true,
      smtpServer: server.host, smtpPort: server.port, smtpUseSsl: false, smtpUsername: "compta",
    }).returning({ id: inboxIntegrations.id });
    server.requireAuth({ user: "compta", password: "imap-pass" });
    return { companyId, integrationId: integration!.id };
  }

  async function seedFollowups(db: Db, companyId: number, count: number): Promise<SeededInvoiceFollowup[]> {
    const seeded = [];
    for (let i = 0; i < count; i++) seeded.push(await seedInvoiceFollowup(db, { companyId }));
    return seeded;
  }

  it("waits a day on Microsoft 365's 554 5.2.0 SubmissionQuotaExceeded: no follow-up failed, the wait recorded, all sent once it is over", async () => {
    const { companyId, integrationId } = await seedMailboxCompany(database.db, smtp, { emailAddress: "compta@durand.test", imapServer: "outlook.office365.com" });
    const steps = await seedFollowups(database.db, companyId, 3);
    const config = testConfig(database);
    smtp.replyAt("data", MICROSOFT_QUOTA);

    const refused = await runFollowups(config, FIRST_DAY);
    expect(refused).toMatchObject({ sent: 0, failed: 0 });
    expect(refused.skippedByReason).toMatchObject({ sending_quota_reached: 1 });
    for (const s of steps) {
      expect(await attemptsOf(database.db, s.followupId)).toEqual([]);
      expect(await statusOf(database.db, s.followupId)).not.toBe("Fait");
    }
    const [wait] = await database.db.select().from(sendingAccountWaits).where(eq(sendingAccountWaits.accountKey, `integration:${integrationId}`));
    expect(wait).toMatchObject({ integrationId, companyId, until: at(FIRST_DAY, 24 * HOUR) });
    expect(wait!.reason).toContain("SubmissionQuotaExceeded");

    // The operator's page tells the wait, in French, with its end on the operator's clock (Paris: UTC+1 in March).
    const page = String(renderFollowups(
      await readFollowups(database.db, { config, log: createLogger("followups", { level: "silent" }), now: at(FIRST_DAY, HOUR) }),
      { basePath: "/admin", csrfToken: "t", now: at(FIRST_DAY, HOUR), dates: new DateFormats(config.operatorTimeZone) },
    ));
    expect(page).toContain("Comptes d'envoi en attente de leur quota (1)");
    expect(page).toContain(`boîte <a href="#boite-${integrationId}">`);
    expect(page).toContain("10/03/2026 09:00");
    expect(page).toContain("SubmissionQuotaExceeded");

    // The server would take them now, but the account waits: nothing is tried before the day is over.
    smtp.replyAt("data", undefined);
    const waiting = await runFollowups(config, at(FIRST_DAY, HOUR));
    expect(waiting).toMatchObject({ sent: 0, failed: 0, skippedByReason: { sending_quota_wait: 3 } });
    expect(smtp.received).toHaveLength(0);

    const after = await runFollowups(config, at(FIRST_DAY, 24 * HOUR + MINUTE));
    expect(after).toMatchObject({ sent: 3, failed: 0 });
    for (const s of steps) expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
  });

  it("waits on Gmail's 550 5.4.5 daily quota answered to MAIL FROM: the account's next follow-ups are not tried, none fails, all go once the wait is over", async () => {
    const { companyId } = await seedMailboxCompany(database.db, smtp, { emailAddress: "atelier.durand@gmail.com", imapServer: "imap.gmail.com" });
    const steps = await seedFollowups(database.db, companyId, 2);
    const config = testConfig(database);
    smtp.replyAt("mail-from", GMAIL_QUOTA);

    const refused = await runFollowups(config, FIRST_DAY);
    expect(refused).toMatchObject({ sent: 0, failed: 0 });
    expect(refused.skippedByReason).toMatchObject({ sending_quota_reached: 1, smtp_unavailable: 1 });
    for (const s of steps) expect(await attemptsOf(database.db, s.followupId)).toEqual([]);

    smtp.replyAt("mail-from", undefined);
    expect(await runFollowups(config, at(FIRST_DAY, 2 * HOUR))).toMatchObject({ sent: 0, skippedByReason: { sending_quota_wait: 2 } });
    expect(await runFollowups(config, at(FIRST_DAY, 24 * HOUR + MINUTE))).toMatchObject({ sent: 2, failed: 0 });
  });

  it("takes 452 4.5.3 Too many recipients at RCPT TO as the account's rate, not the recipient's: a short wait, the step retried on a later run", async () => {
    const { companyId } = await seedMailboxCompany(database.db, smtp, { emailAddress: "compta@durand.test", imapServer: "imap.durand.test" });
    const steps = await seedFollowups(database.db, companyId, 2);
    const config = testConfig(database);
    smtp.replyAt("rcpt-to", { code: 452, text: "4.5.3 Too many recipients" });

    const refused = await runFollowups(config, FIRST_DAY);
    expect(refused).toMatchObject({ sent: 0, failed: 0, skippedByReason: { sending_quota_reached: 1, smtp_unavailable: 1 } });

    smtp.replyAt("rcpt-to", undefined);
    expect(await runFollowups(config, at(FIRST_DAY, 2 * MINUTE))).toMatchObject({ sent: 2, failed: 0 });
    for (const s of steps) expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
  });

  it("sends 30 of 35 due follow-ups of a Microsoft 365 mailbox in a minute, counted across runs, and the other 5 on the next run", async () => {
    const { companyId } = await seedMailboxCompany(database.db, smtp, { emailAddress: "compta@durand.test", imapServer: "outlook.office365.com" });
    await seedFollowups(database.db, companyId, 35);
    const config = testConfig(database);

    const first = await runFollowups(config, FIRST_DAY);
    expect(first).toMatchObject({ sent: 30, failed: 0, skippedByReason: { sending_limit_reached: 5 } });
    expect(smtp.received).toHaveLength(30);

    // Another run (another ping) in the same minute: the 30 already sent count.
    const sameMinute = await runFollowups(config, at(FIRST_DAY, 30_000));
    expect(sameMinute).toMatchObject({ sent: 0, skippedByReason: { sending_limit_reached: 5 } });

    const nextMinute = await runFollowups(config, at(FIRST_DAY, MINUTE));
    expect(nextMinute).toMatchObject({ sent: 5, failed: 0 });
    expect(smtp.received).toHaveLength(35);
  });

  it("follows a company's own limit over its provider's (followups.sending_limits), and SMTP_MAX_PER_HOUR for the global relay", async () => {
    const settings = { ...SWITCHED_ON, followups: { sending_limits: { per_minute: 4 } } };
    const { companyId } = await seedMailboxCompany(database.db, smtp, { emailAddress: "compta@durand.test", imapServer: "outlook.office365.com" }, settings);
    await seedFollowups(database.db, companyId, 6);
    const config = testConfig(database);
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 4, skippedByReason: { sending_limit_reached: 2 } });
    expect(await runFollowups(config, at(FIRST_DAY, MINUTE))).toMatchObject({ sent: 2 });

    // Two companies on the global relay share its hourly limit.
    const relayed = [await seedCompany(database.db), await seedCompany(database.db, undefined, "Boulangerie Martin")];
    for (const id of relayed) await seedFollowups(database.db, id, 2);
    const relayConfig = testConfig(database, { ...smtp.env(), SMTP_MAX_PER_HOUR: "3" });
    smtp.requireAuth(undefined);
    const relayRun = await runFollowups(relayConfig, at(FIRST_DAY, 2 * MINUTE));
    expect(relayRun).toMatchObject({ sent: 3, skippedByReason: { sending_limit_reached: 1 } });
    expect(await runFollowups(relayConfig, at(FIRST_DAY, 30 * MINUTE))).toMatchObject({ sent: 0 });
    expect(await runFollowups(relayConfig, at(FIRST_DAY, 2 * MINUTE + HOUR))).toMatchObject({ sent: 1 });
  });

  it("keeps the global relay's limit when several companies' batches claim through it at once (SMTP_MAX_PER_MINUTE)", async () => {
    const companies = [];
    for (const name of ["Atelier Durand", "Boulangerie Martin", "Garage Petit"]) companies.push(await seedCompany(database.db, undefined, name));
    for (const id of companies) await seedFollowups(database.db, id, 15);
    const config = testConfig(database, { ...smtp.env(), SMTP_MAX_PER_MINUTE: "30", SMTP_MAX_CONNECTIONS: "4" });

    const first = await runFollowups(config, FIRST_DAY);
    expect(first).toMatchObject({ sent: 30, failed: 0, skippedByReason: { sending_limit_reached: 15 } });
    expect(smtp.received).toHaveLength(30);
    expect(await runFollowups(config, at(FIRST_DAY, MINUTE))).toMatchObject({ sent: 15, failed: 0 });
  });

  it("still takes a recipient's full mailbox (451 Mailbox full at RCPT TO) as that recipient's: no wait, the others go out", async () => {
    const { companyId } = await seedMailboxCompany(database.db, smtp, { emailAddress: "compta@durand.test", imapServer: "outlook.office365.com" });
    const [full, ...others] = await seedFollowups(database.db, companyId, 3);
    smtp.deferRecipient(full!.clientEmail);
    const config = testConfig(database);
    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: 2, failed: 1 });
    expect(run.skippedByReason).not.toHaveProperty("sending_quota_reached");
    for (const s of others) expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
    expect(await database.db.select().from(sendingAccountWaits)).toEqual([]);
  });
});
