// Every company without a mailbox sends through the one global relay (SMTP_*), which a run uses over
// several connections at once (SMTP_MAX_CONNECTIONS): never more than that, each email still once,
// and a 4xx from the relay still stops the run's use of it — the sends already in flight finish
// with their own outcome, none starts after the 4xx, the rest wait untouched for the next run.

import { beforeEach, describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Db } from "../../lib/db/client.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { DRIVERS, useDatabase } from "../support/databases.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { type ReceivedMail, useSmtpServer } from "../support/smtp.js";
import { attemptsOf, historyOf, runFollowups, seedCompany, seedInvoiceFollowup, type SeededInvoiceFollowup } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");
const MAILBOX_LOGIN = { user: "compta", password: "mailbox-pass" };

/** `perCompany` follow-ups of each of `companies` companies without a mailbox (so through the relay). */
async function seedGlobalCompanies(db: Db, companies: number, perCompany: number): Promise<SeededInvoiceFollowup[]> {
  const seeded: SeededInvoiceFollowup[] = [];
  for (let n = 0; n < companies; n++) {
    const companyId = await seedCompany(db, undefined, `Entreprise ${n}`);
    for (let i = 0; i < perCompany; i++) seeded.push(await seedInvoiceFollowup(db, { companyId }));
  }
  return seeded;
}

describe.each(DRIVERS)("the global relay over several connections, through %s", (driver) => {
  // Fresh servers: their connection counts are this test's alone.
  const global = useSmtpServer({ scope: "test" });
  const own = useSmtpServer({ scope: "test" });
  const database = useDatabase(driver, { scope: "test" });

  beforeEach(async () => {
    own.requireAuth(MAILBOX_LOGIN);
  });

  it("sends every follow-up once, with at most SMTP_MAX_CONNECTIONS sessions open on the relay and one on a company's own mailbox", async () => {
    const throughGlobal = await seedGlobalCompanies(database.db, 12, 3);
    // More than a batch (16) of one company's own mailbox: two of its batches could go at once.
    const ownCompanyId = await seedCompany(database.db, undefined, "Boulangerie Martin");
    await database.db.insert(inboxIntegrations).values({
      companyId: ownCompanyId, name: "Boîte principale", imapServer: "127.0.0.1", emailAddress: "compta@martin.test",
      emailPassword: encryptSecret(MAILBOX_LOGIN.password, { encryptionKey: TEST_ENCRYPTION_KEY }), isPrimary: true,
      smtpServer: own.host, smtpPort: own.port, smtpUseSsl: false, smtpUsername: MAILBOX_LOGIN.user,
    });
    const throughOwn: SeededInvoiceFollowup[] = [];
    for (let i = 0; i < 20; i++) throughOwn.push(await seedInvoiceFollowup(database.db, { companyId: ownCompanyId }));
    // Slow servers, so that sends overlap whenever they are allowed to.
    global.setAcceptDelay(50);
    own.setAcceptDelay(20);
    const config = testConfig(database, { ...global.env(), SMTP_MAX_CONNECTIONS: "3" });

    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: throughGlobal.length + throughOwn.length, failed: 0, remaining: false });
    expect(global.peakConnections()).toBeLessThanOrEqual(3);
    expect(global.peakConnections()).toBeGreaterThan(1);
    expect(own.peakConnections()).toBe(1);
    for (const s of throughGlobal) {
      expect(global.receivedBy(s.clientEmail)).toHaveLength(1);
      expect(await historyOf(database.db, s.followupId)).toHaveLength(1);
      expect(await attemptsOf(database.db, s.followupId)).toEqual([expect.objectContaining({ step: 1, state: "sent" })]);
    }
    for (const s of throughOwn) expect(own.receivedBy(s.clientEmail)).toHaveLength(1);
    expect(global.received).toHaveLength(throughGlobal.length);

    const again = await runFollowups(config, FIRST_DAY);
    expect(again.sent).toBe(0);
    expect(global.received).toHaveLength(throughGlobal.length);
  });
});

describe("a 4xx from the global relay while other sends are in flight", () => {
  const global = useSmtpServer({ scope: "test" });
  const database = useDatabase("pg", { scope: "test" });


  it("lets the sends in flight finish as they end, starts none after the 4xx, and leaves the rest for the next run", async () => {
    const seeded = await seedGlobalCompanies(database.db, 10, 2);
    const config = testConfig(database, { ...global.env(), SMTP_MAX_CONNECTIONS: "3" });
    // The relay holds each message's reply until three are in flight, one on each connection; then
    // it answers 451 to one and accepts the other two as soon as the refused connection is closed
    // (the client drops it on reading the 451): their slots free up while the refused attempt is
    // still being cleaned up in the database.
    const held: { mail: ReceivedMail; answer: (code: number | undefined) => void }[] = [];
    let refused: ReceivedMail | undefined;
    global.decideReplies((mail) => new Promise((answer) => {
      if (refused) return answer(undefined);
      held.push({ mail, answer });
      if (held.length < 3) return;
      refused = held[0]!.mail;
      held[0]!.answer(451);
      void global.closed(refused.sessionId).then(() => {
        for (const { answer: accept } of held.slice(1)) accept(undefined);
      });
    }));

    const busy = await runFollowups(config, FIRST_DAY);
    const refusedAt = global.events.findIndex((e) => e.type === "reply" && e.code === 451);
    expect(refusedAt).toBeGreaterThanOrEqual(0);
    expect(global.events.slice(refusedAt).filter((e) => e.type === "mail-from")).toEqual([]);
    expect(global.events.filter((e) => e.type === "mail-from")).toHaveLength(3);
    expect(busy).toMatchObject({ sent: 2, failed: 1, skippedByReason: { smtp_unavailable: seeded.length - 3 } });
    expect(busy.failures).toEqual([expect.objectContaining({ kind: "transient", reason: expect.stringContaining("451") })]);
    const refusedTo = refused!.envelope.to[0]!;
    for (const s of seeded) {
      const attempts = await attemptsOf(database.db, s.followupId);
      if (global.receivedBy(s.clientEmail).length === 1) {
        // One of the two in flight, accepted: recorded as sent.
        expect(attempts).toEqual([expect.objectContaining({ state: "sent" })]);
        expect(await historyOf(database.db, s.followupId)).toHaveLength(1);
      } else {
        // The refused one and those never started: untouched, for the next run.
        expect(attempts).toEqual([]);
        expect(await historyOf(database.db, s.followupId)).toEqual([]);
      }
    }
    expect(global.receivedBy(refusedTo)).toEqual([]);

    global.decideReplies(undefined);
    const next = await runFollowups(config, new Date("2026-03-09T09:00:00Z"));
    expect(next).toMatchObject({ sent: seeded.length - 2, failed: 0 });
    for (const s of seeded) {
      expect(global.receivedBy(s.clientEmail)).toHaveLength(1);
      expect(await historyOf(database.db, s.followupId)).toHaveLength(1);
    }
  });
});
