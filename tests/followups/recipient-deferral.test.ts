// A 4xx to RCPT TO is about one recipient (a full mailbox, a greylisted address): that follow-up
// waits for a later run while the others go on through the same server, over the same session
// reset with RSET. A 4xx to the session itself (421, MAIL FROM) still leaves the account alone for
// the run (temporary-refusal.test.ts).

import { describe, expect, it } from "vitest";
import { useDatabase } from "../support/databases.js";
import { testConfig } from "../support/config.js";
import { useSmtpServer } from "../support/smtp.js";
import { attemptsOf, runFollowups, seedCompany, seedInvoiceFollowup } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");
const AN_HOUR_LATER = new Date("2026-03-09T09:00:00Z");

describe("a recipient refused for now at RCPT TO", () => {
  const smtp = useSmtpServer({ scope: "test" });
  const database = useDatabase("pg", { scope: "test" });

  it("waits alone (451 at RCPT, a full mailbox): the run's other follow-ups go out on the same session after an RSET, the account is not down", async () => {
    const companyId = await seedCompany(database.db);
    const full = await seedInvoiceFollowup(database.db, { companyId });
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await seedInvoiceFollowup(database.db, { companyId }));
    // One connection: every send of the run shares one session, whatever their order.
    const config = testConfig(database, { ...smtp.env(), SMTP_MAX_CONNECTIONS: "1" });
    smtp.deferRecipient(full.clientEmail);

    const first = await runFollowups(config, FIRST_DAY);
    expect(first).toMatchObject({ sent: 3, failed: 1 });
    expect(first.skippedByReason).not.toHaveProperty("smtp_unavailable");
    expect(first.failures).toEqual([expect.objectContaining({ kind: "transient", reason: expect.stringContaining("451") })]);
    for (const s of others) expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
    // Never handed over: its attempt is released, nothing recorded, the step open for the next run.
    expect(await attemptsOf(database.db, full.followupId)).toEqual([]);
    expect(smtp.receivedBy(full.clientEmail)).toHaveLength(0);

    // One session: reset after the refusal, not dropped and opened again.
    expect(smtp.connectionCount()).toBe(1);
    const sessionId = smtp.events[0]!.sessionId;
    expect(smtp.received.map((m) => m.sessionId)).toEqual([sessionId, sessionId, sessionId]);
    expect(smtp.events.filter((e) => e.type === "rset")).toEqual([{ type: "rset", sessionId }]);

    smtp.deferRecipient(full.clientEmail, false);
    const later = await runFollowups(config, AN_HOUR_LATER);
    expect(later).toMatchObject({ sent: 1, failed: 0 });
    expect(smtp.receivedBy(full.clientEmail)).toHaveLength(1);
    for (const s of others) expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
  });

  it("leaves the account alone for the run when the server answers 421 to MAIL FROM, as any 4xx to the session", async () => {
    const companyId = await seedCompany(database.db);
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push(await seedInvoiceFollowup(database.db, { companyId }));
    const config = testConfig(database, { ...smtp.env(), SMTP_MAX_CONNECTIONS: "1" });
    smtp.setTemporaryFailure(true, 421);

    const busy = await runFollowups(config, FIRST_DAY);
    expect(busy).toMatchObject({ sent: 0, failed: 1, skippedByReason: { smtp_unavailable: 2 } });
    expect(busy.failures).toEqual([expect.objectContaining({ kind: "transient", reason: expect.stringContaining("421") })]);
    for (const s of steps) expect(await attemptsOf(database.db, s.followupId)).toEqual([]);

    smtp.setTemporaryFailure(false);
    expect(await runFollowups(config, AN_HOUR_LATER)).toMatchObject({ sent: 3, failed: 0 });
  });
});
