// Follow-ups a company chose to send by SMS, through Vonage's SMS API with Vonage's own SDK,
// pointed at a local server that follows Vonage's documented requests and answers; the delivery
// receipts and a client's STOP come back through the product's webhook endpoint.

import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { clients, companySettings, smsOptOuts } from "../../lib/db/schema.js";
import { vonageWebhookEndpoint } from "../../lib/sms/sms-endpoints.js";
import { testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { useVonageServer } from "../support/vonage-server.js";
import { runCli } from "../endpoints/run-cli.js";
import { historyOf, runFollowups, seedInvoiceFollowup, SWITCHED_ON } from "./seed.js";

const TUESDAY = new Date("2026-03-10T09:00:00Z");
const NEXT_TUESDAY = new Date("2026-03-24T09:00:00Z");
const WEBHOOK_SECRET = "sms-webhook-secret-0123456789abcdef";
const SMS_SETTINGS = {
  ...SWITCHED_ON,
  followups: { messages: [{ type: "Facture impayée", method: "sms", content: "Bonjour {client_name}, merci d'être attentif : la facture {source_label} reste à régler." }] },
};

describe("SMS follow-ups through Vonage", () => {
  const database = useDatabase("pg", { scope: "test" });
  const vonage = useVonageServer();
  const env = () => ({
    SMS_PROVIDER: "vonage", VONAGE_API_KEY: vonage.apiKey, VONAGE_API_SECRET: vonage.apiSecret, VONAGE_REST_HOST: vonage.url,
    SMS_SENDER_NAME: "LOKARIO", SMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
  });
  const webhook = (query: Record<string, string>, secret = WEBHOOK_SECRET) =>
    vonageWebhookEndpoint({ env: () => testEnv(database, env()), db: database.db })(
      new Request(`http://localhost/api/sms/vonage?${new URLSearchParams({ secret, ...query })}`),
    );


  async function seedSmsFollowup(phone: string) {
    const seeded = await seedInvoiceFollowup(database.db, { settings: SMS_SETTINGS });
    await database.db.update(clients).set({ phone }).where(eq(clients.id, seeded.clientId));
    return seeded;
  }

  it("sends the reminder once as unicode under concurrent runs, and records the receipts of its segments", async () => {
    const seeded = await seedSmsFollowup("06 12 34 56 11");
    const config = testConfig(database, env());
    const runs = await Promise.all([1, 2, 3].map(() => runFollowups(config, TUESDAY)));
    expect(runs.reduce((sum, r) => sum + r.sent, 0)).toBe(1);

    const sent = vonage.requests.filter((r) => r.to === "33612345611");
    expect(sent).toHaveLength(1);
    // "ê" is not in the GSM alphabet: the text goes as UCS-2, 67 characters per segment.
    expect(sent[0]).toMatchObject({ from: "LOKARIO", type: "unicode" });
    expect(sent[0]!.messageIds).toHaveLength(2);
    const [history] = await historyOf(database.db, seeded.followupId);
    expect(history).toMatchObject({ messageType: "sms", recipient: "+33612345611", deliveryStatus: "submitted", messageId: sent[0]!.clientRef });

    const receipt = (messageId: string, status: string) =>
      webhook({ msisdn: "33612345611", to: "LOKARIO", "network-code": "20801", messageId, price: "0.0333", status, scts: "2603101001", "err-code": "0", "api-key": vonage.apiKey, "client-ref": sent[0]!.clientRef ?? "", "message-timestamp": "2026-03-10 09:01:00" });
    expect((await receipt(sent[0]!.messageIds[0]!, "delivered")).status).toBe(200);
    expect((await historyOf(database.db, seeded.followupId))[0]!.deliveryStatus).toBe("accepted");
    await receipt(sent[0]!.messageIds[1]!, "delivered");
    expect((await historyOf(database.db, seeded.followupId))[0]!.deliveryStatus).toBe("delivered");
  });

  it("refuses a webhook without the secret and records nothing", async () => {
    const answer = await webhook({ msisdn: "33612345612", text: "STOP", messageId: "x", type: "text" }, "wrong");
    expect(answer.status).toBe(403);
    expect(await database.db.select().from(smsOptOuts)).toHaveLength(0);
  });

  it("retries a throttled send on the next run, once, and never texts a client who answered STOP", async () => {
    const seeded = await seedSmsFollowup("06 12 34 56 13");
    const config = testConfig(database, env());
    vonage.queueStatuses("1");
    expect(await runFollowups(config, TUESDAY)).toMatchObject({ sent: 0, failed: 1, failures: [expect.objectContaining({ kind: "transient" })] });
    expect(await runFollowups(config, new Date(TUESDAY.getTime() + 3_600_000))).toMatchObject({ sent: 1 });
    expect(vonage.requests.filter((r) => r.to === "33612345613")).toHaveLength(1);

    const inbound = await webhook({ msisdn: "33612345613", to: "LOKARIO", messageId: "0B00000001", text: "STOP", type: "text", keyword: "STOP", "api-key": vonage.apiKey, "message-timestamp": "2026-03-10 10:05:00" });
    expect(await inbound.json()).toMatchObject({ kind: "inbound", result: "opted_out" });
    expect(await runFollowups(config, NEXT_TUESDAY)).toMatchObject({ sent: 0, skippedByReason: { sms_opted_out: 1 } });
    expect(vonage.requests.filter((r) => r.to === "33612345613")).toHaveLength(1);
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(1);
  });

  describe("a company's own account, set with `lokario-cron companies sms`", () => {
    // The deployment's account is refused by the server: a text that goes out went through the company's.
    const refusedGlobal = () => ({ ...env(), VONAGE_API_SECRET: "not-the-deployment-secret" });
    const settingsOf = async (companyId: number) =>
      (await database.db.select().from(companySettings).where(eq(companySettings.companyId, companyId)))[0]!.settings as Record<string, Record<string, unknown>>;

    it("sends through the account the CLI stored, its secret encrypted and the other settings kept", async () => {
      const seeded = await seedSmsFollowup("06 12 34 56 22");

      const set = await runCli(
        ["companies", "sms", String(seeded.companyId), "--vonage", vonage.apiKey, "--sender-name", "ATELIER", "--max-segments", "4"],
        testEnv(database, refusedGlobal()),
        `${vonage.apiSecret}\n`,
      );

      expect(set).toMatchObject({ code: 0, stderr: "" });
      expect(set.stdout).toMatch(/its own Vonage account \(key abcd1234\), sender ATELIER, at most 4 segment/);
      const settings = await settingsOf(seeded.companyId);
      expect(JSON.stringify(settings)).not.toContain(vonage.apiSecret);
      expect(settings.sms).toMatchObject({ provider: "vonage", sender_name: "ATELIER", max_segments: 4, vonage: { api_key: vonage.apiKey, api_secret: expect.stringMatching(/^v1:/) } });
      expect(settings.followups).toEqual(SMS_SETTINGS.followups);
      expect((await runFollowups(testConfig(database, refusedGlobal()), TUESDAY)).sent).toBe(1);
      expect(vonage.requests.filter((r) => r.to === "33612345622")).toEqual([expect.objectContaining({ from: "ATELIER" })]);
    });

    it("goes back to the deployment's account with --global, and refuses bad values without writing", async () => {
      const seeded = await seedSmsFollowup("06 12 34 56 33");
      const cliEnv = testEnv(database, env());
      const id = String(seeded.companyId);
      expect((await runCli(["companies", "sms", id, "--smpp", "ssmpp://smpp.operateur.test:3550", "--system-id", "atelier", "--secret-env", "SMPP_PASS"], { ...cliEnv, SMPP_PASS: "smpp-pass" })).code).toBe(0);
      expect((await settingsOf(seeded.companyId)).sms).toMatchObject({ provider: "smpp", smpp: { url: "ssmpp://smpp.operateur.test:3550", system_id: "atelier" } });

      const before = await settingsOf(seeded.companyId);
      for (const args of [["--smpp", "http://smpp.operateur.test"], ["--sender-name", "Beaucoup trop long"], ["--vonage", "k", "--global"], []]) {
        const refused = await runCli(["companies", "sms", id, ...args], cliEnv, "secret\n");
        expect(refused.code, args.join(" ")).toBe(2);
      }
      expect(await settingsOf(seeded.companyId)).toEqual(before);
      expect(await runCli(["companies", "sms", "999999", "--global"], cliEnv)).toMatchObject({ code: 1, stderr: expect.stringContaining("company 999999 does not exist") });

      const back = await runCli(["companies", "sms", id, "--global", "--json"], cliEnv);
      expect(JSON.parse(back.stdout)).toMatchObject({ companyId: seeded.companyId, provider: "global" });
      const sms = (await settingsOf(seeded.companyId)).sms!;
      expect(Object.keys(sms).filter((k) => ["provider", "vonage", "smpp"].includes(k))).toEqual([]);
      expect((await runFollowups(testConfig(database, env()), TUESDAY)).sent).toBe(1);
      expect(vonage.requests.filter((r) => r.to === "33612345633")).toEqual([expect.objectContaining({ from: "LOKARIO" })]);
    });
  });
});
