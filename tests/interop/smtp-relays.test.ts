// The interop matrix's relays (docs/interop.md): follow-ups sent through real MTAs started here on
// loopback ports (submission with STARTTLS and AUTH, implicit TLS as on 465), each message found in
// the relay's queue, and the relay's own 4xx and 5xx answers at RCPT TO.

import { describe, expect, it } from "vitest";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { startExim } from "../support/exim.js";
import { useFixture } from "../support/fixture.js";
import { startOpenSmtpd } from "../support/opensmtpd.js";
import { startPostfix } from "../support/postfix.js";
import type { RelayRefusals, TestRelay } from "../support/relay.js";
import { attemptsOf, historyOf, runFollowups, seedCompany, seedInvoiceFollowup } from "../followups/seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");
const REFUSALS: RelayRefusals = { deferred: "boite.pleine@client.test", refused: "inconnu@client.test" };

interface MatrixRelay {
  label: string;
  start(refusals: RelayRefusals): Promise<TestRelay>;
}

const RELAYS: MatrixRelay[] = [
  { label: "Exim", start: startExim },
  { label: "Postfix", start: startPostfix },
  { label: "OpenSMTPD", start: startOpenSmtpd },
];

describe.each(RELAYS)("follow-ups through $label", ({ label, start }) => {
  const relay = useFixture(label, { start: () => start(REFUSALS), close: (r) => r.stop() });
  // One database per test: a deferred follow-up stays due, and would be tried again by the next test.
  const database = useDatabase("pg", { scope: "test" });

  const env = (transport: "starttls" | "tls") => ({
    SMTP_HOST: "127.0.0.1",
    SMTP_PORT: String(transport === "tls" ? relay.tlsPort : relay.port),
    SMTP_SECURE: transport === "tls" ? "true" : "false",
    SMTP_USER: relay.credentials.user,
    SMTP_PASSWORD: relay.credentials.password,
    // Self-signed, as a relay on a private network often is: the operator's documented opt-out.
    SMTP_TLS_REJECT_UNAUTHORIZED: "false",
    SMTP_FROM: "Lokario <relances@lokario.test>",
    SMTP_TIMEOUT_MS: "10000",
  });
  /** The queued message for `address`, with the Message-ID the product recorded. */
  const queuedFor = (address: string) => relay.queued().filter((q) => q.toLowerCase().includes(address.toLowerCase()));

  for (const transport of ["starttls", "tls"] as const) {
    it(`hands a follow-up to the relay over ${transport === "tls" ? "implicit TLS" : "STARTTLS"} with AUTH: it waits in the relay's queue`, async () => {
      const step = await seedInvoiceFollowup(database.db);

      expect(await runFollowups(testConfig(database, env(transport)), FIRST_DAY)).toMatchObject({ sent: 1, failed: 0 });

      const [sent] = await historyOf(database.db, step.followupId);
      const queued = queuedFor(step.clientEmail);
      expect(queued).toHaveLength(1);
      expect(queued[0]).toContain(sent!.messageId!);
    });
  }

  it("keeps a follow-up the relay defers (4xx at RCPT TO) for a later run, and sends the others", async () => {
    const companyId = await seedCompany(database.db);
    const full = await seedInvoiceFollowup(database.db, { companyId, clientEmail: REFUSALS.deferred });
    const other = await seedInvoiceFollowup(database.db, { companyId });

    const run = await runFollowups(testConfig(database, env("starttls")), FIRST_DAY);

    expect(run).toMatchObject({ sent: 1, failed: 1 });
    expect(run.failures).toEqual([expect.objectContaining({ kind: "transient", reason: expect.stringMatching(/45\d/) })]);
    expect(await attemptsOf(database.db, full.followupId)).toEqual([]);
    expect(queuedFor(REFUSALS.deferred)).toHaveLength(0);
    expect(queuedFor(other.clientEmail)).toHaveLength(1);
  });

  it("records a follow-up the relay refuses (5xx at RCPT TO) as failed, and sends the others", async () => {
    const companyId = await seedCompany(database.db);
    const unknown = await seedInvoiceFollowup(database.db, { companyId, clientEmail: REFUSALS.refused });
    const other = await seedInvoiceFollowup(database.db, { companyId });

    const run = await runFollowups(testConfig(database, env("starttls")), FIRST_DAY);

    expect(run).toMatchObject({ sent: 1, failed: 1 });
    expect(run.failures).toEqual([expect.objectContaining({ kind: "permanent", reason: expect.stringMatching(/55\d/) })]);
    expect(await historyOf(database.db, unknown.followupId)).toEqual([]);
    expect(queuedFor(other.clientEmail)).toHaveLength(1);
  });
});
