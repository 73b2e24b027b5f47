// Follow-ups a company chose to send by SMS, through an SMPP gateway: a real SMPP server (the
// `smpp` package's server side) that answers submit_sm, sends delivery receipts and a client's
// STOP, throttles, or drops the connection in the middle of a submission.

import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import { clients, smsOptOuts } from "../../lib/db/schema.js";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { MAIL_HOST_REFUSED } from "../../lib/mail/mail-host-guard.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { useSmppServer } from "../support/smpp-server.js";
import { attemptsOf, historyOf, runFollowups, seedInvoiceFollowup, SWITCHED_ON } from "./seed.js";

/** Tuesday 10 March 2026, 10:00 in Paris: the first follow-up (due date + 7 days) is due. */
const TUESDAY = new Date("2026-03-10T09:00:00Z");
const NEXT_TUESDAY = new Date("2026-03-24T09:00:00Z");
const SMS_SETTINGS = {
  ...SWITCHED_ON,
  followups: {
    messages: [{ type: "Facture impayée", method: "sms", content: "Bonjour {client_name}, la facture {source_label} ({amount} EUR) reste à régler. {company_name}" }],
  },
  sms: { sender_name: "ATELIER" },
};

describe("SMS follow-ups through an SMPP gateway", () => {
  const database = useDatabase("pg", { scope: "test" });
  const smsc = useSmppServer();
  const env = () => ({ SMS_PROVIDER: "smpp", SMPP_URL: smsc.url, SMPP_SYSTEM_ID: smsc.systemId, SMPP_PASSWORD: smsc.password, SMS_TIMEOUT_MS: "5000" });

  beforeEach(async () => {
    smsc.setImmediateReceipts(true);
  });

  async function seedSmsFollowup(phone: string) {
    const seeded = await seedInvoiceFollowup(database.db, { settings: SMS_SETTINGS });
    await database.db.update(clients).set({ phone }).where(eq(clients.id, seeded.clientId));
    return seeded;
  }
  const sentTo = (number: string) => smsc.submitted.filter((s) => s.to === number);

  it("sends the reminder once to the client's mobile under concurrent runs, and records its delivery receipt", async () => {
    const seeded = await seedSmsFollowup("06 12 34 56 01");
    const config = testConfig(database, env());
    const runs = await Promise.all([1, 2, 3].map(() => runFollowups(config, TUESDAY)));
    expect(runs.reduce((sum, r) => sum + r.sent, 0)).toBe(1);

    const [sms, ...others] = sentTo("33612345601");
    expect(others).toHaveLength(0);
    // Every character is in the GSM alphabet (à and é are): one GSM-7 segment, the cheapest.
    expect(sms).toMatchObject({ from: "ATELIER", dataCoding: 0 });
    expect(sms!.text).toBe("Bonjour Marie Curie, la facture Facture " + seeded.invoiceNumber + " (1 234,50 EUR) reste à régler. Atelier Durand");
    const [history, ...moreHistory] = await historyOf(database.db, seeded.followupId);
    expect(moreHistory).toHaveLength(0);
    expect(history).toMatchObject({ messageType: "sms", recipient: "+33612345601", deliveryStatus: "delivered", step: 1 });
    expect((await attemptsOf(database.db, seeded.followupId)).map((a) => [a.channel, a.state])).toEqual([["sms", "sent"]]);
  });

  it("sends a step the gateway throttled on the next run, once", async () => {
    const seeded = await seedSmsFollowup("+33 6 12 34 56 02");
    const config = testConfig(database, env());
    smsc.queueBehaviours("throttle");
    const first = await runFollowups(config, TUESDAY);
    expect(first).toMatchObject({ sent: 0, failed: 1, failures: [expect.objectContaining({ kind: "transient" })] });
    expect(await attemptsOf(database.db, seeded.followupId)).toHaveLength(0);

    const second = await runFollowups(config, new Date(TUESDAY.getTime() + 3_600_000));
    expect(second).toMatchObject({ sent: 1, failed: 0 });
    expect(sentTo("33612345602")).toHaveLength(1);
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(1);
  });

  it("leaves a step uncertain and never resends it when the gateway drops the connection mid-submit", async () => {
    const seeded = await seedSmsFollowup("0033.6.12.34.56.03");
    const config = testConfig(database, env());
    smsc.queueBehaviours("drop");
    const first = await runFollowups(config, TUESDAY);
    expect(first).toMatchObject({ sent: 0, failed: 1, failures: [expect.objectContaining({ kind: "uncertain" })] });
    const [attempt] = await attemptsOf(database.db, seeded.followupId);
    expect(attempt).toMatchObject({ channel: "sms", state: "uncertain" });
    expect(attempt!.handedOverAt).toBeInstanceOf(Date);

    const later = await runFollowups(config, new Date(TUESDAY.getTime() + 86_400_000));
    expect(later).toMatchObject({ sent: 0, skippedByReason: { previous_send_uncertain: 1 } });
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(0);
  });

  it("never texts again a client who answered STOP", async () => {
    const seeded = await seedSmsFollowup("06-12-34-56-04");
    const config = testConfig(database, env());
    // The client answers at once, while the run is still bound: the gateway pushes the text then.
    smsc.queueAnswer("Stop");
    expect(await runFollowups(config, TUESDAY)).toMatchObject({ sent: 1 });
    expect(await database.db.select().from(smsOptOuts)).toEqual([expect.objectContaining({ phone: "+33612345604", keyword: "STOP" })]);

    const next = await runFollowups(config, NEXT_TUESDAY);
    expect(next).toMatchObject({ sent: 0, skippedByReason: { sms_opted_out: 1 } });
    expect(sentTo("33612345604")).toHaveLength(1);
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(1);
  });

  it("skips a client whose number is a landline or unreadable, with the reason, and sends nothing", async () => {
    await seedSmsFollowup("01 23 45 67 89");
    await seedSmsFollowup("pas de portable");
    const run = await runFollowups(testConfig(database, env()), TUESDAY);
    expect(run).toMatchObject({ sent: 0, skippedByReason: { phone_not_mobile: 1, phone_unreadable: 1 } });
  });

  it("refuses a company's own gateway on the internal network without connecting, and sends once it is allowed", async () => {
    const settings = {
      ...SMS_SETTINGS,
      sms: {
        ...SMS_SETTINGS.sms, provider: "smpp",
        smpp: { url: smsc.url, system_id: smsc.systemId, password: encryptSecret(smsc.password, { encryptionKey: TEST_ENCRYPTION_KEY }) },
      },
    };
    const seeded = await seedInvoiceFollowup(database.db, { settings });
    await database.db.update(clients).set({ phone: "06 12 34 56 06" }).where(eq(clients.id, seeded.clientId));
    const bindsBefore = smsc.binds();
    const refused = await runFollowups(testConfig(database, { ALLOW_PRIVATE_MAIL_HOSTS: "false" }), TUESDAY);
    expect(refused.sent).toBe(0);
    expect(JSON.stringify(refused)).toContain(MAIL_HOST_REFUSED);
    expect(smsc.binds()).toBe(bindsBefore);
    expect(await attemptsOf(database.db, seeded.followupId)).toHaveLength(0);

    const allowed = await runFollowups(testConfig(database), new Date(TUESDAY.getTime() + 3_600_000));
    expect(allowed.sent).toBe(1);
    expect(sentTo("33612345606")).toHaveLength(1);
  });

  it("waits for Monday when the SMS window is closed on Sunday", async () => {
    await seedSmsFollowup("06 12 34 56 05");
    const sunday = new Date("2026-03-15T10:00:00Z");
    const run = await runFollowups(testConfig(database, env()), sunday);
    expect(run).toMatchObject({ sent: 0, skippedByReason: { outside_sending_window: 1 } });
  });
});
