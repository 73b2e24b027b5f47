// A server that answers 4xx ("try again later") is left alone for the rest of the run: the other
// follow-ups through it wait for the next run, untouched, while other companies' servers go on.

import { describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { useDatabase } from "../support/databases.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { useGlobalAndOwnSmtp } from "../support/smtp.js";
import { attemptsOf, runFollowups, seedCompany, seedInvoiceFollowup } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");

describe("an SMTP server answering 4xx", () => {
  const { global, own } = useGlobalAndOwnSmtp();
  const database = useDatabase("pg", { scope: "test" });

  it("is tried once per run: its other follow-ups wait untouched for the next run, another company's server goes on", async () => {
    const companyId = await seedCompany(database.db);
    const throughGlobal = [];
    for (let i = 0; i < 5; i++) throughGlobal.push(await seedInvoiceFollowup(database.db, { companyId }));
    const otherCompanyId = await seedCompany(database.db, undefined, "Boulangerie Martin");
    await database.db.insert(inboxIntegrations).values({
      companyId: otherCompanyId, name: "Boîte principale", imapServer: "127.0.0.1", emailAddress: "compta@martin.test",
      emailPassword: encryptSecret("imap-pass", { encryptionKey: TEST_ENCRYPTION_KEY }), isPrimary: true,
      smtpServer: own.host, smtpPort: own.port, smtpUseSsl: false, smtpUsername: "compta",
    });
    own.requireAuth({ user: "compta", password: "imap-pass" });
    const throughOwn = [];
    for (let i = 0; i < 2; i++) throughOwn.push(await seedInvoiceFollowup(database.db, { companyId: otherCompanyId }));
    const config = testConfig(database, global.env());

    global.setTemporaryFailure(true);
    const busy = await runFollowups(config, FIRST_DAY);
    expect(busy).toMatchObject({ sent: 2, failed: 1, skippedByReason: { smtp_unavailable: 4 } });
    expect(busy.failures).toEqual([expect.objectContaining({ kind: "transient", reason: expect.stringContaining("451") })]);
    for (const s of throughGlobal) expect(await attemptsOf(database.db, s.followupId)).toEqual([]);
    for (const s of throughOwn) expect(own.receivedBy(s.clientEmail)).toHaveLength(1);

    global.setTemporaryFailure(false);
    const next = await runFollowups(config, new Date("2026-03-09T09:00:00Z"));
    expect(next).toMatchObject({ sent: 5, failed: 0 });
    for (const s of throughGlobal) expect(global.receivedBy(s.clientEmail)).toHaveLength(1);
    for (const s of throughOwn) expect(own.receivedBy(s.clientEmail)).toHaveLength(1);
  });
});
