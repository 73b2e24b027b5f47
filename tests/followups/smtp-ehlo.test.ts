// The name the follow-up run gives in EHLO: a host name, never nodemailer's default address literal
// (`[127.0.0.1]` on a machine whose name is not fully qualified), which strict relays refuse.

import { describe, expect, it } from "vitest";
import { useDatabase } from "../support/databases.js";
import { testConfig } from "../support/config.js";
import { useSmtpServer } from "../support/smtp.js";
import { runFollowups, seedInvoiceFollowup } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");

describe("the EHLO name of the follow-up run", () => {
  const smtp = useSmtpServer({ scope: "test" });
  const database = useDatabase("pg", { scope: "test" });

  it("is the host of PUBLIC_BASE_URL when set, not an address literal", async () => {
    await seedInvoiceFollowup(database.db);
    const config = testConfig(database, { ...smtp.env(), PUBLIC_BASE_URL: "https://relances.atelier-durand.fr/" });
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1 });
    expect(smtp.heloNames).toEqual(["relances.atelier-durand.fr"]);
  });

  it("is the sending address's domain when no public host name is configured", async () => {
    await seedInvoiceFollowup(database.db);
    const config = testConfig(database, smtp.env("Lokario <relances@lokario.test>"));
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1 });
    expect(smtp.heloNames).toEqual(["lokario.test"]);
  });

  it("is SMTP_HELO_NAME when set, which refuses an address literal", async () => {
    await seedInvoiceFollowup(database.db);
    const env = { ...smtp.env(), PUBLIC_BASE_URL: "https://app.lokario.test", SMTP_HELO_NAME: "mx.lokario.test" };
    expect(await runFollowups(testConfig(database, env), FIRST_DAY)).toMatchObject({ sent: 1 });
    expect(smtp.heloNames).toEqual(["mx.lokario.test"]);
    for (const literal of ["[127.0.0.1]", "127.0.0.1", "[IPv6:::1]"]) {
      expect(() => testConfig(database, { ...env, SMTP_HELO_NAME: literal })).toThrow(/SMTP_HELO_NAME/);
    }
  });
});
