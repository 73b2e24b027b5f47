// Follow-ups as a hosted install sends them (ALLOW_PRIVATE_MAIL_HOSTS off): a company whose own SMTP
// settings point at the internal network is refused before any connection, and its follow-ups wait
// for the settings to be fixed; the operator's relay (SMTP_HOST) is the operator's choice and is used.

import { afterEach, describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { MAIL_HOST_REFUSED } from "../../lib/mail/mail-host-guard.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { freePort } from "../support/ports.js";
import { useSmtpServer } from "../support/smtp.js";
import { attemptsOf, runFollowups, seedCompany, seedInvoiceFollowup, statusOf } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");

const smtp = useSmtpServer();
const database = useDatabase("pg", { scope: "test" });

afterEach(async () => {
  smtp.requireAuth(undefined);
});

/** The company's primary mailbox, sending through `smtpHost:smtpPort`. */
async function sendingMailbox(companyId: number, smtpHost: string, smtpPort: number): Promise<void> {
  await database.db.insert(inboxIntegrations).values({
    companyId, name: "Boîte principale", imapServer: "imap.durand.test", emailAddress: `facturation-${companyId}@durand.test`,
    emailPassword: encryptSecret("imap-pass", { encryptionKey: TEST_ENCRYPTION_KEY }), isPrimary: true,
    smtpServer: smtpHost, smtpPort, smtpUseSsl: false, smtpUsername: "facturation",
  });
}

describe("follow-ups through a company's SMTP server on the internal network", () => {
  it("refuses 127.0.0.1 with one message whether the port is open or closed, never connects, and keeps the follow-ups", async () => {
    const closedPort = await freePort();
    const onOpenPort = await seedCompany(database.db);
    const onClosedPort = await seedCompany(database.db);
    await sendingMailbox(onOpenPort, "127.0.0.1", smtp.port);
    await sendingMailbox(onClosedPort, "127.0.0.1", closedPort);
    const waiting = [
      await seedInvoiceFollowup(database.db, { companyId: onOpenPort }),
      await seedInvoiceFollowup(database.db, { companyId: onOpenPort }),
      await seedInvoiceFollowup(database.db, { companyId: onClosedPort }),
    ];
    const before = smtp.connectionCount();

    // The ports under test are allowed, so that only the address can refuse them.
    const hosted = testConfig(database, { ALLOW_PRIVATE_MAIL_HOSTS: "false", MAIL_ALLOWED_PORTS: `${smtp.port},${closedPort}` });
    const run = await runFollowups(hosted, FIRST_DAY);

    expect(run).toMatchObject({ sent: 0, failed: 2, skippedByReason: { smtp_unavailable: 1 } });
    expect(run.failures.map((f) => [f.kind, f.reason])).toEqual([["auth", MAIL_HOST_REFUSED], ["auth", MAIL_HOST_REFUSED]]);
    expect(smtp.connectionCount()).toBe(before);
    // Nothing is wrong with the messages: no attempt is kept as failed, each follow-up stays open.
    for (const s of waiting) {
      expect(await attemptsOf(database.db, s.followupId)).toEqual([]);
      expect(await statusOf(database.db, s.followupId)).not.toBe("Fait");
    }

    // On a self-hosted install (its mail server on the LAN), the same settings send (and log in).
    smtp.requireAuth({ user: "facturation", password: "imap-pass" });
    expect(await runFollowups(testConfig(database), FIRST_DAY)).toMatchObject({ sent: 2 });
    expect(smtp.receivedBy(waiting[0]!.clientEmail)).toHaveLength(1);
  });

  it("refuses a host name that resolves to loopback (localhost) without connecting", async () => {
    const companyId = await seedCompany(database.db);
    await sendingMailbox(companyId, "localhost", smtp.port);
    await seedInvoiceFollowup(database.db, { companyId });
    const before = smtp.connectionCount();

    const run = await runFollowups(testConfig(database, { ALLOW_PRIVATE_MAIL_HOSTS: "false", MAIL_ALLOWED_PORTS: String(smtp.port) }), FIRST_DAY);

    expect(run.failures.map((f) => f.reason)).toEqual([MAIL_HOST_REFUSED]);
    expect(smtp.connectionCount()).toBe(before);
  });

  it("still sends through the operator's SMTP_HOST relay on loopback", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    const run = await runFollowups(testConfig(database, { ...smtp.env(), ALLOW_PRIVATE_MAIL_HOSTS: "false" }), FIRST_DAY);
    expect(run).toMatchObject({ sent: 1, failed: 0 });
    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(1);
  });
});
