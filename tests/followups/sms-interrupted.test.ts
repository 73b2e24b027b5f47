// An SMS follow-up run killed (kill -9) in the middle of a send, with the real `lokario-cron` binary
// and a real SMPP gateway: killed before the gateway had the text, the step is sent again
// automatically, exactly once; killed after the submit left, it is left uncertain and never resent.

import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { clients } from "../../lib/db/schema.js";
import { resolveUncertainAsSent, SMS_TEXT_NOT_KEPT } from "../../lib/followups/resolve-uncertain.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { startSilentServer } from "../support/silent-server.js";
import { useSmppServer } from "../support/smpp-server.js";
import { attemptsOf, historyOf, killFollowupRunWhen, runFollowups, seedInvoiceFollowup, SWITCHED_ON } from "./seed.js";

const MINUTE_MS = 60_000;
/** Past the attempt lease (20 min) and the killed run's lease (25 s budget + grace). */
const LATER_MS = 21 * MINUTE_MS;
/** Any day, any hour, by SMS: the binary runs on the real clock. */
const ALWAYS_OPEN_SMS = {
  ...SWITCHED_ON,
  followups: {
    sending_window: { time_zone: "UTC", business_days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" },
    messages: [{ type: "Facture impayée", method: "sms", content: "Bonjour {client_name}, la facture {source_label} reste à régler. {company_name}" }],
  },
  sms: { sender_name: "ATELIER", sending_window: { time_zone: "UTC", business_days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" } },
};

describe("an SMS follow-up run killed in the middle of a send", () => {
  const database = useDatabase("pg", { scope: "test" });
  const smsc = useSmppServer();
  const smsEnv = (url = smsc.url) => ({ SMS_PROVIDER: "smpp", SMPP_URL: url, SMPP_SYSTEM_ID: smsc.systemId, SMPP_PASSWORD: smsc.password });


  async function seedSmsFollowup(phone: string) {
    const seeded = await seedInvoiceFollowup(database.db, { settings: ALWAYS_OPEN_SMS });
    await database.db.update(clients).set({ phone }).where(eq(clients.id, seeded.clientId));
    return seeded;
  }

  it("sends again, exactly once, a text killed while binding to a gateway that never answered", async () => {
    const seeded = await seedSmsFollowup("06 12 34 56 11");
    const silent = await startSilentServer();
    try {
      const killedAt = await killFollowupRunWhen(database, smsEnv(`smpp://127.0.0.1:${silent.port}`), async () => silent.connections() > 0);
      expect(await attemptsOf(database.db, seeded.followupId)).toMatchObject([{ channel: "sms", handedOverAt: null }]);

      const config = testConfig(database, smsEnv());
      const later = await runFollowups(config, new Date(killedAt.getTime() + LATER_MS));
      expect(later).toMatchObject({ sent: 1, failed: 0, uncertain: 0 });
      const again = await runFollowups(config, new Date(killedAt.getTime() + LATER_MS + MINUTE_MS));
      expect(again).toMatchObject({ sent: 0 });
    } finally {
      await silent.close();
    }
    expect(smsc.submitted.filter((s) => s.to === "33612345611")).toHaveLength(1);
    expect(await historyOf(database.db, seeded.followupId)).toMatchObject([{ messageType: "sms" }]);
  });

  it("leaves a text killed after its submit left uncertain, and never sends it again", async () => {
    const seeded = await seedSmsFollowup("06 12 34 56 12");
    smsc.queueBehaviours("hold");
    const killedAt = await killFollowupRunWhen(database, smsEnv(), async () => smsc.submitted.some((s) => s.to === "33612345612"));
    const [attempt] = await attemptsOf(database.db, seeded.followupId);
    expect(attempt!.handedOverAt).toBeInstanceOf(Date);

    const config = testConfig(database, smsEnv());
    const later = await runFollowups(config, new Date(killedAt.getTime() + LATER_MS));
    expect(later).toMatchObject({ sent: 0, skippedByReason: { previous_send_uncertain: 1 } });
    const nextDay = await runFollowups(config, new Date(killedAt.getTime() + 24 * 60 * MINUTE_MS));
    expect(nextDay).toMatchObject({ sent: 0, skippedByReason: { previous_send_uncertain: 1 } });
    expect(smsc.submitted.filter((s) => s.to === "33612345612")).toHaveLength(1);
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(0);

    // The operator finds it in the gateway's log: recorded as the text it was, not as an email.
    await resolveUncertainAsSent(database.db, attempt!.id, { config, log: createLogger("test", { level: "silent" }) });
    expect(await historyOf(database.db, seeded.followupId)).toMatchObject([{ messageType: "sms", recipient: "+33612345612", message: SMS_TEXT_NOT_KEPT }]);
    expect(await attemptsOf(database.db, seeded.followupId)).toMatchObject([{ state: "sent" }]);
  });
});
