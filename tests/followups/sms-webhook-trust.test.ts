// Who may speak through `/api/sms/vonage`: each Vonage account proves itself (Vonage's signature, or
// that account's own `?secret=`) and only touches what it sent, for the company it belongs to. The
// texts go out through the local Vonage server (tests/support/vonage-server.ts), which also writes
// the receipts and inbound texts Vonage would send back, signed as Vonage signs them; the attacks
// are those a company holding its own webhook secret, or the deployment's, could try on another.

import { createHash } from "node:crypto";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { clients, companySettings, smsOptOuts } from "../../lib/db/schema.js";
import { vonageWebhookEndpoint } from "../../lib/sms/sms-endpoints.js";
import { TEST_ENCRYPTION_KEY, testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { signedByVonage, useVonageServer } from "../support/vonage-server.js";
import { runCli } from "../endpoints/run-cli.js";
import { historyOf, runFollowups, seedCompany, seedInvoiceFollowup, SWITCHED_ON } from "./seed.js";

const TUESDAY = new Date("2026-03-10T09:00:00Z");
const NEXT_TUESDAY = new Date("2026-03-24T09:00:00Z");
const DEPLOYMENT_SECRET = "sms-webhook-secret-0123456789abcdef";
/** The deployment's account sends from a Vonage number, which clients can answer. */
const DEPLOYMENT_NUMBER = "+33700000001";
const ACCOUNT_A = { apiKey: "aaaa0001", apiSecret: "vonage-secret-a" };
const ACCOUNT_B = { apiKey: "bbbb0002", apiSecret: "vonage-secret-b", signatureSecret: "signature-secret-b-0123456789abcdef", signatureMethod: "sha256" as const };
const WEBHOOK_SECRET_A = "company-a-webhook-secret-0123456789abcdef0123456789";
const TEMPLATE = { messages: [{ type: "Facture impayée", method: "sms", content: "Bonjour {client_name}, la facture {source_label} reste à régler." }] };

describe("Vonage webhooks: an account speaks only for what it sent", () => {
  const database = useDatabase("pg", { scope: "test" });
  const vonage = useVonageServer();
  const env = (extra: Record<string, string> = {}) => ({
    SMS_PROVIDER: "vonage", VONAGE_API_KEY: vonage.apiKey, VONAGE_API_SECRET: vonage.apiSecret, VONAGE_REST_HOST: vonage.url,
    SMS_SENDER_NAME: DEPLOYMENT_NUMBER, SMS_WEBHOOK_SECRET: DEPLOYMENT_SECRET, ...extra,
  });
  /** Vonage (or whoever) calling the webhook, at `now`, with `?secret=` when given. */
  const webhook = (fields: Record<string, string>, options: { secret?: string; now: Date; env?: Record<string, string> }) =>
    vonageWebhookEndpoint({ env: () => testEnv(database, options.env ?? env()), db: database.db, now: () => options.now })(
      new Request(`http://localhost/api/sms/vonage?${new URLSearchParams({ ...(options.secret ? { secret: options.secret } : {}), ...fields })}`),
    );
  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
  const encrypted = (text: string) => encryptSecret(text, { encryptionKey: TEST_ENCRYPTION_KEY });
  const settingsWith = (sms: Record<string, unknown>) => ({ ...SWITCHED_ON, followups: TEMPLATE, sms });
  /** Company A: its own account, whose webhooks carry its own secret. */
  const companyA = settingsWith({
    provider: "vonage", sender_name: "ATELIERA",
    vonage: { api_key: ACCOUNT_A.apiKey, api_secret: encrypted(ACCOUNT_A.apiSecret), webhook_secret_sha256: sha256(WEBHOOK_SECRET_A) },
  });
  /** Company B: its own account, whose webhooks Vonage signs. */
  const companyB = settingsWith({
    provider: "vonage", sender_name: "ATELIERB",
    vonage: { api_key: ACCOUNT_B.apiKey, api_secret: encrypted(ACCOUNT_B.apiSecret), signature_secret: encrypted(ACCOUNT_B.signatureSecret), signature_method: "sha256" },
  });

  beforeAll(async () => {
    vonage.addAccount(ACCOUNT_A);
    vonage.addAccount(ACCOUNT_B);
  });

  async function seedTexted(settings: unknown, phone: string, companyId?: number) {
    const seeded = await seedInvoiceFollowup(database.db, companyId ? { companyId } : { settings });
    await database.db.update(clients).set({ phone }).where(eq(clients.id, seeded.clientId));
    return seeded;
  }
  const textsTo = (phone: string) => vonage.requests.filter((r) => r.to === phone.replace(/^\+/, ""));
  const optOuts = () => database.db.select({ companyId: smsOptOuts.companyId, phone: smsOptOuts.phone }).from(smsOptOuts);
  const deliveryOf = async (followupId: number) => (await historyOf(database.db, followupId))[0]!.deliveryStatus;
  /** A webhook as someone without the account's signature secret can write it. */
  const unsigned = (fields: Record<string, string>) => Object.fromEntries(Object.entries(fields).filter(([name]) => !["sig", "timestamp", "nonce"].includes(name)));

  it("never opts out company B's client on a STOP forged with the deployment's secret or with company A's own", async () => {
    const a = await seedTexted(companyA, "+33612340001");
    const b = await seedTexted(companyB, "+33612340002");
    expect((await runFollowups(testConfig(database, env()), TUESDAY)).sent).toBe(2);
    const at = new Date(TUESDAY.getTime() + 60_000);
    const stop = (apiKey: string, from: string, to: string) => unsigned(vonage.inboundText({ apiKey, from, to, text: "STOP", at }));

    // The deployment's secret, once pasted in every company's dashboard, no longer speaks for B's account.
    expect((await webhook(stop(ACCOUNT_B.apiKey, "+33612340002", "ATELIERB"), { secret: DEPLOYMENT_SECRET, now: at })).status).toBe(403);
    // A's own secret speaks for A's account, which never texted B's client, and for no other account.
    expect(await (await webhook(stop(ACCOUNT_A.apiKey, "+33612340002", "ATELIERB"), { secret: WEBHOOK_SECRET_A, now: at })).json()).toMatchObject({ result: "ignored" });
    expect((await webhook(stop(ACCOUNT_B.apiKey, "+33612340002", "ATELIERB"), { secret: WEBHOOK_SECRET_A, now: at })).status).toBe(403);
    expect(await optOuts()).toEqual([]);

    // A's client answering A's text is heard.
    expect(await (await webhook(stop(ACCOUNT_A.apiKey, "+33612340001", "ATELIERA"), { secret: WEBHOOK_SECRET_A, now: at })).json()).toMatchObject({ result: "opted_out" });
    expect(await optOuts()).toEqual([{ companyId: a.companyId, phone: "+33612340001" }]);
    const next = await runFollowups(testConfig(database, env()), NEXT_TUESDAY);
    expect(next).toMatchObject({ sent: 1, skippedByReason: { sms_opted_out: 1 } });
    expect(textsTo("+33612340002")).toHaveLength(2);
    expect(await historyOf(database.db, b.followupId)).toHaveLength(2);
  });

  it("opts out the company whose account and number the client answered, not the last one that texted them", async () => {
    const phone = "+33612340003";
    const a = await seedTexted(companyA, phone);
    expect((await runFollowups(testConfig(database, env()), TUESDAY)).sent).toBe(1);
    // Later the same person gets a text from a company on the deployment's account, from its number.
    const c = await seedTexted(settingsWith({}), phone);
    expect((await runFollowups(testConfig(database, env()), new Date(TUESDAY.getTime() + 3_600_000))).sent).toBe(1);
    expect(textsTo(phone).map((r) => r.apiKey)).toEqual([ACCOUNT_A.apiKey, vonage.apiKey]);
    const at = new Date(TUESDAY.getTime() + 2 * 3_600_000);

    const toA = vonage.inboundText({ apiKey: ACCOUNT_A.apiKey, from: phone, to: "ATELIERA", text: "Stop", at });
    expect(await (await webhook(toA, { secret: WEBHOOK_SECRET_A, now: at })).json()).toMatchObject({ result: "opted_out" });
    expect(await optOuts()).toEqual([{ companyId: a.companyId, phone }]);

    // On the deployment's account, a STOP to a number the client was never texted from opts out no one.
    const elsewhere = vonage.inboundText({ apiKey: vonage.apiKey, from: phone, to: "+33700000999", text: "STOP", at });
    expect(await (await webhook(elsewhere, { secret: DEPLOYMENT_SECRET, now: at })).json()).toMatchObject({ result: "ignored" });
    const toC = vonage.inboundText({ apiKey: vonage.apiKey, from: phone, to: DEPLOYMENT_NUMBER, text: "STOP", at });
    expect(await (await webhook(toC, { secret: DEPLOYMENT_SECRET, now: at })).json()).toMatchObject({ result: "opted_out" });
    expect(await optOuts()).toEqual(expect.arrayContaining([{ companyId: a.companyId, phone }, { companyId: c.companyId, phone }]));
  });

  it("does not record a receipt carrying another account's api-key, or speaking for another company", async () => {
    const b = await seedTexted(companyB, "+33612340004");
    expect((await runFollowups(testConfig(database, env()), TUESDAY)).sent).toBe(1);
    await seedCompany(database.db, companyA);
    // Company A2 wrote B's API key into its own settings, with a webhook secret of its own.
    await seedCompany(database.db, settingsWith({
      provider: "vonage", vonage: { api_key: ACCOUNT_B.apiKey, api_secret: encrypted("not-b-secret"), webhook_secret_sha256: sha256(WEBHOOK_SECRET_A) },
    }));
    const [sent] = textsTo("+33612340004");
    const at = new Date(TUESDAY.getTime() + 60_000);
    const forged = unsigned(vonage.receiptFor(sent!.messageIds[0]!, "delivered", at));

    expect((await webhook(forged, { secret: DEPLOYMENT_SECRET, now: at })).status).toBe(403);
    expect(await (await webhook({ ...forged, "api-key": ACCOUNT_A.apiKey }, { secret: WEBHOOK_SECRET_A, now: at })).json()).toMatchObject({ recorded: false });
    expect(await (await webhook(forged, { secret: WEBHOOK_SECRET_A, now: at })).json()).toMatchObject({ recorded: false });
    expect(await deliveryOf(b.followupId)).toBe("submitted");

    const genuine = vonage.receiptFor(sent!.messageIds[0]!, "delivered", at);
    expect(await (await webhook(genuine, { now: at })).json()).toMatchObject({ recorded: true });
    expect(await deliveryOf(b.followupId)).toBe("delivered");
  });

  it("with a signature secret, refuses a request with no signature or a bad one, even with the right ?secret=", async () => {
    const signedEnv = env({ VONAGE_SIGNATURE_SECRET: "deployment-signature-secret-0123456789", VONAGE_SIGNATURE_METHOD: "sha512" });
    const c = await seedTexted(settingsWith({}), "+33612340006");
    expect((await runFollowups(testConfig(database, signedEnv), TUESDAY)).sent).toBe(1);
    const [sent] = textsTo("+33612340006");
    const at = new Date(TUESDAY.getTime() + 60_000);
    const receipt = vonage.receiptFor(sent!.messageIds[0]!, "delivered", at);
    const attempts = [
      receipt,
      { ...signedByVonage(receipt, "deployment-signature-secret-0123456789", "sha512", at), status: "failed" },
      signedByVonage(receipt, "someone-else-signature-secret", "sha512", at),
      signedByVonage(receipt, "deployment-signature-secret-0123456789", "sha256", at),
    ];
    for (const fields of attempts) {
      expect((await webhook(fields, { secret: DEPLOYMENT_SECRET, now: at, env: signedEnv })).status).toBe(403);
    }
    expect(await deliveryOf(c.followupId)).toBe("submitted");
  });

  it("records a receipt and a STOP that Vonage signed, with no secret in the URL", async () => {
    const b = await seedTexted(companyB, "+33612340007");
    const signedEnv = env({ VONAGE_SIGNATURE_SECRET: "deployment-signature-secret-0123456789" });
    const c = await seedTexted(settingsWith({}), "+33612340008");
    expect((await runFollowups(testConfig(database, signedEnv), TUESDAY)).sent).toBe(2);
    const at = new Date(TUESDAY.getTime() + 60_000);

    const [toB] = textsTo("+33612340007");
    expect(await (await webhook(vonage.receiptFor(toB!.messageIds[0]!, "delivered", at), { now: at, env: signedEnv })).json()).toMatchObject({ recorded: true });
    expect(await deliveryOf(b.followupId)).toBe("delivered");
    // The deployment's account signs with Vonage's default method, MD5 hash.
    const [toC] = textsTo("+33612340008");
    const receiptC = signedByVonage(vonage.receiptFor(toC!.messageIds[0]!, "delivered", at), "deployment-signature-secret-0123456789", "md5hash", at);
    expect(await (await webhook(receiptC, { now: at, env: signedEnv })).json()).toMatchObject({ recorded: true });
    expect(await deliveryOf(c.followupId)).toBe("delivered");

    const stop = vonage.inboundText({ apiKey: ACCOUNT_B.apiKey, from: "+33612340007", to: "ATELIERB", text: "ARRÊT", at });
    expect(await (await webhook(stop, { now: at, env: signedEnv })).json()).toMatchObject({ result: "opted_out" });
    expect(await optOuts()).toEqual([{ companyId: b.companyId, phone: "+33612340007" }]);
  });

  it("refuses a signed receipt replayed more than five minutes after Vonage signed it", async () => {
    const signedEnv = env({ VONAGE_SIGNATURE_SECRET: "deployment-signature-secret-0123456789" });
    const c = await seedTexted(settingsWith({}), "+33612340009");
    expect((await runFollowups(testConfig(database, signedEnv), TUESDAY)).sent).toBe(1);
    const [sent] = textsTo("+33612340009");
    const signedAt = new Date(TUESDAY.getTime() + 60_000);
    const receipt = signedByVonage(vonage.receiptFor(sent!.messageIds[0]!, "failed", signedAt), "deployment-signature-secret-0123456789", "md5hash", signedAt);

    const replayedAt = new Date(signedAt.getTime() + 6 * 60_000);
    expect((await webhook(receipt, { secret: DEPLOYMENT_SECRET, now: replayedAt, env: signedEnv })).status).toBe(403);
    expect(await deliveryOf(c.followupId)).toBe("submitted");
    expect((await webhook(receipt, { now: new Date(signedAt.getTime() + 4 * 60_000), env: signedEnv })).status).toBe(200);
    expect(await deliveryOf(c.followupId)).toBe("failed");
  });

  it("answers 503 in production when SMS_WEBHOOK_SECRET is shorter than 32 characters", async () => {
    const production = (secret: string) => env({ NODE_ENV: "production", SMS_WEBHOOK_SECRET: secret });
    const stop = vonage.inboundText({ apiKey: vonage.apiKey, from: "+33612340010", to: DEPLOYMENT_NUMBER, text: "STOP", at: TUESDAY });
    const short = await webhook(stop, { secret: "short-secret", now: TUESDAY, env: production("short-secret") });
    expect(short.status).toBe(503);
    expect(await short.json()).toMatchObject({ error: expect.stringContaining("SMS_WEBHOOK_SECRET is too short") });
    expect((await webhook(stop, { secret: DEPLOYMENT_SECRET, now: TUESDAY, env: production(DEPLOYMENT_SECRET) })).status).toBe(200);
  });

  it("sets a company's webhook secret (shown once, kept as its hash) and signature secret with `companies sms`", async () => {
    const a = await seedTexted(settingsWith({}), "+33612340011");
    const id = String(a.companyId);
    const cliEnv = testEnv(database, env());
    const set = await runCli(["companies", "sms", id, "--vonage", ACCOUNT_A.apiKey, "--webhook-secret", "--json"], cliEnv, `${ACCOUNT_A.apiSecret}\n`);
    expect(set).toMatchObject({ code: 0, stderr: "" });
    const shown = JSON.parse(set.stdout) as { webhookSecret: string; webhookPath: string; vonageWebhooks: string };
    expect(shown).toMatchObject({ vonageWebhooks: "secret", webhookPath: `/api/sms/vonage?secret=${shown.webhookSecret}` });
    expect(shown.webhookSecret).toMatch(/^[0-9a-f]{64}$/);
    const stored = async () => JSON.stringify((await database.db.select().from(companySettings).where(eq(companySettings.companyId, a.companyId)))[0]!.settings);
    expect(await stored()).not.toContain(shown.webhookSecret);
    expect(await stored()).toContain(sha256(shown.webhookSecret));

    expect((await runFollowups(testConfig(database, env()), TUESDAY)).sent).toBe(1);
    const [sent] = textsTo("+33612340011");
    const at = new Date(TUESDAY.getTime() + 60_000);
    const receipt = vonage.receiptFor(sent!.messageIds[0]!, "accepted", at);
    expect(await (await webhook(receipt, { secret: shown.webhookSecret, now: at })).json()).toMatchObject({ recorded: true });
    expect(await deliveryOf(a.followupId)).toBe("accepted");

    // Signed from now on: the secret in the URL no longer suffices; the API key and secret are kept.
    const signed = await runCli(["companies", "sms", id, "--vonage-signature", "sha1"], cliEnv, "company-a-signature-secret\n");
    expect(signed).toMatchObject({ code: 0, stderr: "" });
    expect(signed.stdout).toMatch(/must be signed, sha1/);
    expect(await stored()).not.toContain("company-a-signature-secret");
    const delivered = vonage.receiptFor(sent!.messageIds[0]!, "delivered", at);
    expect((await webhook(delivered, { secret: shown.webhookSecret, now: at })).status).toBe(403);
    expect(await (await webhook(signedByVonage(delivered, "company-a-signature-secret", "sha1", at), { now: at })).json()).toMatchObject({ recorded: true });
    expect(await deliveryOf(a.followupId)).toBe("delivered");

    const refused = await runCli(["companies", "sms", id, "--global", "--webhook-secret"], cliEnv);
    expect(refused.code).toBe(2);
  });
});
