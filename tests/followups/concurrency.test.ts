// Many companies due at once: a run's workers send different companies' emails at the same time,
// and the rules hold all the same — each (follow-up, step) once, one email per client per day, a
// 4xx server left alone after its first 4xx, the run budget respected — also with two pings at once.

import { eq } from "drizzle-orm";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Db } from "../../lib/db/client.js";
import { followupSendAttempts, inboxIntegrations } from "../../lib/db/schema.js";
import { DRIVERS, useDatabase } from "../support/databases.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { type TestSmtpServer, useGlobalAndOwnSmtp } from "../support/smtp.js";
import { attemptsOf, historyOf, runFollowups, seedClient, seedCompany, seedInvoiceFollowup, type SeededInvoiceFollowup } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");
const MAILBOX_LOGIN = { user: "compta", password: "mailbox-pass" };

/** A company whose emails go out through its own mailbox, on `server`. */
async function seedCompanyWithMailbox(db: Db, server: TestSmtpServer, n: number): Promise<number> {
  const companyId = await seedCompany(db, undefined, `Entreprise ${n}`);
  await db.insert(inboxIntegrations).values({
    companyId, name: "Boîte principale", imapServer: "127.0.0.1", emailAddress: `compta@entreprise-${n}.test`,
    emailPassword: encryptSecret(MAILBOX_LOGIN.password, { encryptionKey: TEST_ENCRYPTION_KEY }), isPrimary: true,
    smtpServer: server.host, smtpPort: server.port, smtpUseSsl: false, smtpUsername: MAILBOX_LOGIN.user,
  });
  return companyId;
}

async function seedFollowups(db: Db, companyId: number, count: number): Promise<SeededInvoiceFollowup[]> {
  const seeded = [];
  for (let i = 0; i < count; i++) seeded.push(await seedInvoiceFollowup(db, { companyId }));
  return seeded;
}

describe.each(DRIVERS)("many companies due at once, through %s", (driver) => {
  const { global, own } = useGlobalAndOwnSmtp();
  const database = useDatabase(driver, { scope: "test" });
  beforeAll(() => own.requireAuth(MAILBOX_LOGIN));

  it("sends each due step exactly once when two pings run over the same companies at once", async () => {
    const seeded: SeededInvoiceFollowup[] = [];
    for (let n = 0; n < 8; n++) seeded.push(...(await seedFollowups(database.db, await seedCompany(database.db, undefined, `Globale ${n}`), 3)));
    for (let n = 0; n < 8; n++) seeded.push(...(await seedFollowups(database.db, await seedCompanyWithMailbox(database.db, own, n), 3)));
    const config = testConfig(database, global.env());

    const [first, second] = await Promise.all([runFollowups(config, FIRST_DAY), runFollowups(config, FIRST_DAY)]);
    expect(first.sent + second.sent).toBe(seeded.length);
    expect(first.failed + second.failed).toBe(0);
    for (const s of seeded) {
      expect(global.receivedBy(s.clientEmail).length + own.receivedBy(s.clientEmail).length).toBe(1);
      expect(await historyOf(database.db, s.followupId)).toHaveLength(1);
      expect(await attemptsOf(database.db, s.followupId)).toEqual([expect.objectContaining({ step: 1, state: "sent" })]);
    }
  });
});

describe("workers of a run and two pings at once", () => {
  const { global, own } = useGlobalAndOwnSmtp();
  const database = useDatabase("pg", { scope: "test" });
  beforeAll(() => own.requireAuth(MAILBOX_LOGIN));
  beforeEach(async () => {
    await own.start();
    own.setTemporaryFailure(false);
    own.setAcceptDelay(0);
  });

  it("sends other companies' emails while one company's server has not even greeted yet", async () => {
    // SMTP_TIMEOUT_MS long enough that a run waiting for the silent server would wait past the test.
    const config = testConfig(database, { ...global.env(), SMTP_TIMEOUT_MS: "60000" });
    const [silent] = await seedFollowups(database.db, await seedCompanyWithMailbox(database.db, own, 0), 1);
    const others: SeededInvoiceFollowup[] = [];
    for (let n = 1; n <= 3; n++) others.push(...(await seedFollowups(database.db, await seedCompany(database.db, undefined, `Globale ${n}`), 1)));

    own.holdGreetings();
    const run = runFollowups(config, FIRST_DAY);
    try {
      await global.waitForMessages(others.length, 20_000);
    } finally {
      own.releaseGreetings();
    }
    expect(await run).toMatchObject({ sent: 4, failed: 0 });
    expect(own.receivedBy(silent!.clientEmail)).toHaveLength(1);
    for (const s of others) expect(global.receivedBy(s.clientEmail)).toHaveLength(1);
  });

  it("gives a client one automatic email a day even when two pings handle its follow-ups at once", async () => {
    const companyId = await seedCompanyWithMailbox(database.db, own, 0);
    const client = await seedClient(database.db, companyId);
    const same: SeededInvoiceFollowup[] = [];
    for (let i = 0; i < 3; i++) {
      same.push(await seedInvoiceFollowup(database.db, { companyId, clientId: client.id, clientEmail: client.email }));
      // Other clients' follow-ups in between, so the client's ones are not next to each other.
      await seedFollowups(database.db, companyId, 20);
    }
    for (let n = 1; n <= 4; n++) await seedFollowups(database.db, await seedCompanyWithMailbox(database.db, own, n), 5);
    const config = testConfig(database, global.env());

    const runs = await Promise.all([runFollowups(config, FIRST_DAY), runFollowups(config, FIRST_DAY)]);
    expect(own.receivedBy(client.email!)).toHaveLength(1);
    expect(runs.reduce((sum, r) => sum + (r.skippedByReason.client_already_contacted_today ?? 0), 0)).toBeGreaterThanOrEqual(2);
    const attempts = (await Promise.all(same.map((s) => attemptsOf(database.db, s.followupId)))).flat();
    expect(attempts).toEqual([expect.objectContaining({ state: "sent" })]);

    const nextDay = await runFollowups(config, new Date("2026-03-10T08:00:00Z"));
    expect(nextDay.sent).toBe(1);
    expect(own.receivedBy(client.email!)).toHaveLength(2);
  });

  it("stops using a server after its first 4xx, even when its follow-ups fill several batches", async () => {
    const companyId = await seedCompanyWithMailbox(database.db, own, 0);
    const refused = await seedFollowups(database.db, companyId, 40);
    const others: SeededInvoiceFollowup[] = [];
    for (let n = 1; n <= 8; n++) others.push(...(await seedFollowups(database.db, await seedCompany(database.db, undefined, `Globale ${n}`), 2)));
    const config = testConfig(database, global.env());

    own.setTemporaryFailure(true);
    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: others.length, failed: 1, skippedByReason: { smtp_unavailable: refused.length - 1 } });
    expect(run.failures).toEqual([expect.objectContaining({ kind: "transient", reason: expect.stringContaining("451") })]);
    expect(await database.db.select().from(followupSendAttempts).where(eq(followupSendAttempts.companyId, companyId))).toEqual([]);

    own.setTemporaryFailure(false);
    expect(await runFollowups(config, new Date("2026-03-09T09:00:00Z"))).toMatchObject({ sent: refused.length, failed: 0 });
    for (const s of refused) expect(own.receivedBy(s.clientEmail)).toHaveLength(1);
  });

  it("stops every worker before the run budget is spent, leaves no step claimed, and sends the rest once on the next pings", async () => {
    const seeded: SeededInvoiceFollowup[] = [];
    for (let n = 0; n < 12; n++) seeded.push(...(await seedFollowups(database.db, await seedCompanyWithMailbox(database.db, own, n), 3)));
    const tight = testConfig(database, { ...global.env(), RUN_BUDGET_MS: "1000" });
    own.setAcceptDelay(300);
    const runs = [];
    for (let ping = 0; ping < 20; ping++) {
      const run = await runFollowups(tight, FIRST_DAY);
      runs.push(run);
      expect(await database.db.select().from(followupSendAttempts).where(eq(followupSendAttempts.state, "sending"))).toEqual([]);
      if (!run.remaining) break;
    }
    expect(runs[0]).toMatchObject({ remaining: true, failed: 0 });
    expect(runs[0]!.sent).toBeLessThan(seeded.length);
    expect(runs.at(-1)).toMatchObject({ remaining: false });
    expect(runs.reduce((sum, r) => sum + r.sent, 0)).toBe(seeded.length);
    for (const s of seeded) expect(own.receivedBy(s.clientEmail)).toHaveLength(1);
  });
});
