// Gmail push end to end on real PostgreSQL, the local Gmail server and a local Pub/Sub push sender:
// the watches the scheduled sync keeps (made, renewed, refused, stopped), and the push route as
// Pub/Sub and an attacker reach it (the OIDC token checked before anything, the address trusted only
// when the product watches it, the mailbox synced at once under the cron's lease).

import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GMAIL_PUSH_PATH } from "../../lib/app/gmail-push-endpoint.js";
import { inboxSyncJob } from "../../lib/app/inbox-sync-job.js";
import { ROUTES } from "../../lib/app/routes.js";
import { inboxIntegrations, inboxMessages, jobRuns } from "../../lib/db/schema.js";
import { MAX_PUSH_BODY_BYTES } from "../../lib/gmail/push-endpoint.js";
import { keepGmailWatches } from "../../lib/gmail/push-upkeep.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { silentLogger } from "../../lib/log.js";
import { pushStateOf } from "../../lib/ops/mailbox-push-state.js";
import { testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { startGmailServer, type TestGmailServer } from "../support/gmail-server.js";
import { type PushSender, startPushSender } from "../support/push-sender.js";
import { mail } from "./gmail-kit.js";
import { addGmailMailbox, FAR_AWAY, integrationRow, type ServedPushRoute, servePushRoute, watchRowsOf } from "./push-kit.js";

const TOPIC = "projects/lokario-test/topics/gmail";
const DAY_MS = 24 * 3_600_000;

describe("Gmail push", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg");
  const logLines: string[] = [];
  let gmail: TestGmailServer;
  let sender: PushSender;
  let route: ServedPushRoute;
  let env: Record<string, string>;
  // The Gmail server's and the upkeep's clock: real time, moved forward by a test.
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);

  beforeAll(async () => {
    gmail = await startGmailServer({ authorizationServer, now });
    route = await servePushRoute({ env: () => env, logSink: (line) => logLines.push(line) });
    sender = await startPushSender({ audience: route.url });
    env = testEnv(database, {
      GMAIL_API_BASE_URL: gmail.url, GMAIL_PUBSUB_TOPIC: TOPIC, GMAIL_PUSH_AUDIENCE: route.url,
      GMAIL_PUSH_SERVICE_ACCOUNT: sender.serviceAccountEmail, GMAIL_PUSH_JWKS_URL: sender.jwksUrl, LOG_LEVEL: "debug",
    });
  });
  afterAll(async () => {
    await route.settle();
    await route.close();
    await sender.close();
    await gmail.close();
  });

  const keep = (topicName = TOPIC) => keepGmailWatches({ db: database.db, config: testConfig(database, env), now, log: silentLogger, topicName });
  const watchCalls = (address: string) => gmail.requests.filter((r) => r.user === address && r.method === "users.watch").length;
  const watchedMailbox = async () => {
    const mailbox = await addGmailMailbox(database.db, authorizationServer);
    await keep();
    return mailbox;
  };
  const push = async (notification: unknown, token?: string | null) =>
    fetch(route.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token ?? await sender.token()}` }) },
      body: sender.envelope(notification),
    });

  describe("watch upkeep", () => {
    it("watches an active Gmail-API mailbox's INBOX and SENT on the topic once, and stores the watch (provider gmail, folder *)", async () => {
      const mailbox = await addGmailMailbox(database.db, authorizationServer);

      await keep();
      await keep();

      expect(watchCalls(mailbox.address)).toBe(1);
      const watch = gmail.mailbox(mailbox.address).watch!;
      expect(watch.topicName).toBe(TOPIC);
      expect(watch.labelIds.sort()).toEqual(["INBOX", "SENT"]);
      const [row, ...others] = await watchRowsOf(database.db, mailbox.integrationId);
      expect(others).toHaveLength(0);
      expect(row).toMatchObject({ provider: "gmail", folder: "*", state: "active", expiresAt: watch.expiration, lastError: null });
      expect(pushStateOf("gmail-api", [row!], now())).toMatchObject({ code: "active", activeUntil: watch.expiration });
    });

    it("renews the watch a day after it was made, and watches again when the topic changes", async () => {
      const mailbox = await watchedMailbox();
      const first = gmail.mailbox(mailbox.address).watch!.expiration;

      offsetMs += DAY_MS - 60_000;
      await keep();
      expect(watchCalls(mailbox.address)).toBe(1);
      offsetMs += 120_000;
      const summary = await keep();
      expect(summary.renewed).toBeGreaterThanOrEqual(1);
      expect(watchCalls(mailbox.address)).toBe(2);
      const [renewed] = await watchRowsOf(database.db, mailbox.integrationId);
      expect(renewed!.expiresAt!.getTime()).toBeGreaterThan(first.getTime());

      await keep("projects/lokario-test/topics/autre");
      expect(gmail.mailbox(mailbox.address).watch!.topicName).toBe("projects/lokario-test/topics/autre");
      await keep();
      expect(gmail.mailbox(mailbox.address).watch!.topicName).toBe(TOPIC);
    });

    it("records a refused watch with the operator's reason in French, shows it refused, and asks again only a day later", async () => {
      const mailbox = await addGmailMailbox(database.db, authorizationServer);
      const foreignTopic = "projects/autre-projet/topics/gmail";

      const summary = await keep(foreignTopic);

      expect(summary.refused).toBeGreaterThanOrEqual(1);
      const [row] = await watchRowsOf(database.db, mailbox.integrationId);
      expect(row).toMatchObject({ provider: "gmail", folder: "*", state: "refused", subscriptionId: null });
      expect(row!.lastError).toMatch(/^Google a refusé la surveillance de la boîte \(.*HTTP 400.*\) : elle est relevée périodiquement$/);
      expect(pushStateOf("gmail-api", [row!], now())).toMatchObject({ code: "refused", reason: row!.lastError });
      await keep(foreignTopic);
      expect(watchCalls(mailbox.address)).toBe(1);
      offsetMs += DAY_MS + 60_000;
      await keep();
      expect((await watchRowsOf(database.db, mailbox.integrationId))[0]!.state).toBe("active");
    });

    it("stops the watch of a disabled mailbox and marks it removed", async () => {
      const mailbox = await watchedMailbox();
      await database.db.update(inboxIntegrations).set({ isActive: false }).where(eq(inboxIntegrations.id, mailbox.integrationId));

      const summary = await keep();

      expect(summary.stopped).toBeGreaterThanOrEqual(1);
      expect(gmail.mailbox(mailbox.address).watch).toBeUndefined();
      expect((await watchRowsOf(database.db, mailbox.integrationId))[0]).toMatchObject({ state: "removed", subscriptionId: null, expiresAt: null });
    });

    it("runs as the scheduled sync's first step when GMAIL_PUBSUB_TOPIC is set, and not otherwise", async () => {
      const mailbox = await addGmailMailbox(database.db, authorizationServer);
      const { GMAIL_PUBSUB_TOPIC: _unset, ...envWithoutTopic } = env;

      const before = await runJob(inboxSyncJob, {}, { config: testConfig(database, envWithoutTopic), log: silentLogger, trigger: "test", now });
      expect(before).not.toHaveProperty("gmailWatches");
      expect(watchCalls(mailbox.address)).toBe(0);

      const summary = await runJob(inboxSyncJob, {}, { config: testConfig(database, env), log: silentLogger, trigger: "test", now });
      expect(summary.gmailWatches?.watched).toBeGreaterThanOrEqual(1);
      expect(watchCalls(mailbox.address)).toBe(1);
    });
  });

  describe("push route", () => {
    it("syncs exactly the notified mailbox at once under a lease and records the push", async () => {
      const notified = await watchedMailbox();
      const other = await watchedMailbox();
      const before = new Date();
      gmail.deliver(notified.address, mail({ subject: "Devis toiture", to: notified.address }), { labelIds: ["INBOX", "UNREAD"], internalDate: now() });
      const notification = gmail.notifications.filter((n) => n.emailAddress === notified.address).at(-1)!;
      expect(notification.topicName).toBe(TOPIC);

      const response = await push({ emailAddress: notification.emailAddress.toUpperCase(), historyId: Number(notification.historyId) });
      expect(response.status).toBe(204);
      const [row] = await watchRowsOf(database.db, notified.integrationId);
      expect(row!.lastNotifiedAt!.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1_000);
      await route.settle();

      const stored = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, notified.integrationId));
      expect(stored).toHaveLength(1);
      const runs = await database.db.select().from(jobRuns).where(eq(jobRuns.trigger, "push"));
      expect(runs.some((run) => (run.summary as { integrations?: { attempted?: number } }).integrations?.attempted === 1)).toBe(true);
      const untouched = await integrationRow(database.db, other.integrationId);
      expect(untouched.nextSyncAt).toEqual(FAR_AWAY);
      expect((await watchRowsOf(database.db, other.integrationId))[0]!.lastNotifiedAt).toBeNull();
    });

    const refusals: [string, () => Promise<string | null>, number][] = [
      ["no token", async () => null, 401],
      ["an unsigned token", async () => sender.unsignedToken(), 401],
      ["a token for another audience", async () => sender.token({ audience: "https://attacker.example/push" }), 401],
      ["a token signed by an unknown key", async () => sender.token({ key: "unknown" }), 401],
      ["a token signed by another key under the trusted kid", async () => sender.token({ key: "impostor" }), 401],
      ["an expired token", async () => sender.token({ issuedAt: new Date(Date.now() - 3 * 3_600_000) }), 401],
      ["a token of another issuer", async () => sender.token({ issuer: "https://attacker.example" }), 401],
      ["a Google token of another service account", async () => sender.token({ email: "someone@attacker.iam.gserviceaccount.com" }), 403],
      ["a token whose email is not verified", async () => sender.token({ emailVerified: false }), 403],
    ];
    it.each(refusals)("refuses a push with %s and makes nothing due", async (_what, tokenOf, status) => {
      const mailbox = await watchedMailbox();
      gmail.deliver(mailbox.address, mail({ to: mailbox.address }), { labelIds: ["INBOX"], internalDate: now() });
      const runsBefore = (await database.db.select().from(jobRuns)).length;

      const response = await push({ emailAddress: mailbox.address, historyId: gmail.mailbox(mailbox.address).historyId }, await tokenOf());
      await route.settle();

      expect(response.status).toBe(status);
      expect((await integrationRow(database.db, mailbox.integrationId)).nextSyncAt).toEqual(FAR_AWAY);
      expect((await watchRowsOf(database.db, mailbox.integrationId))[0]!.lastNotifiedAt).toBeNull();
      expect(await database.db.select().from(jobRuns)).toHaveLength(runsBefore);
    });

    it("acknowledges a valid push for an address it does not watch and does nothing: unknown, refused watch, or read over IMAP", async () => {
      const refused = await addGmailMailbox(database.db, authorizationServer);
      await keep("projects/autre-projet/topics/gmail");
      const imap = await addGmailMailbox(database.db, authorizationServer);
      await keep();
      await database.db.update(inboxIntegrations).set({ mailTransport: "imap" }).where(eq(inboxIntegrations.id, imap.integrationId));
      const runsBefore = (await database.db.select().from(jobRuns)).length;

      for (const address of ["inconnu@lokario.test", refused.address, imap.address]) {
        const response = await push({ emailAddress: address, historyId: "12345" });
        expect(response.status).toBe(204);
      }
      await route.settle();

      expect(await database.db.select().from(jobRuns)).toHaveLength(runsBefore);
      for (const id of [refused.integrationId, imap.integrationId]) expect((await integrationRow(database.db, id)).nextSyncAt).toEqual(FAR_AWAY);
    });

    it("keeps a failing mailbox's back-off: the push is recorded, the mailbox not synced", async () => {
      const mailbox = await watchedMailbox();
      const backOff = new Date(Date.now() + 3_600_000);
      await database.db.update(inboxIntegrations).set({ consecutiveFailures: 2, nextSyncAt: backOff }).where(eq(inboxIntegrations.id, mailbox.integrationId));

      const response = await push({ emailAddress: mailbox.address, historyId: "1" });
      await route.settle();

      expect(response.status).toBe(204);
      const row = await integrationRow(database.db, mailbox.integrationId);
      expect(row.nextSyncAt).toEqual(backOff);
      expect(row.lastSyncAt).toBeNull();
      expect((await watchRowsOf(database.db, mailbox.integrationId))[0]!.lastNotifiedAt).not.toBeNull();
    });

    it("answers 400 to a valid token with a body that is not a Gmail notification", async () => {
      const response = await fetch(route.url, { method: "POST", headers: { authorization: `Bearer ${await sender.token()}` }, body: JSON.stringify({ message: { data: "bm90IGpzb24=" } }) });
      expect(response.status).toBe(400);
    });

    it("stops reading an endless body at the cap and answers 413", async () => {
      const endpoint = ROUTES.find((r) => r.path === GMAIL_PUSH_PATH)!.endpoint({ env: () => env });
      let pulledBytes = 0;
      const chunk = new Uint8Array(64 * 1024).fill(0x20);
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulledBytes += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });

      const response = await endpoint(new Request(`https://lokario.example${GMAIL_PUSH_PATH}`, {
        method: "POST", body, headers: { authorization: `Bearer ${await sender.token()}` }, duplex: "half",
      } as RequestInit));

      expect(response.status).toBe(413);
      expect(pulledBytes).toBeLessThanOrEqual(MAX_PUSH_BODY_BYTES + 2 * chunk.byteLength);
    });

    it("answers 405 with Allow to anything but POST, and 404 where push is not configured", async () => {
      const response = await fetch(route.url);
      expect(response.status).toBe(405);
      expect(response.headers.get("allow")).toBe("POST");
      const { GMAIL_PUSH_AUDIENCE: _unset, ...unconfigured } = env;
      const endpoint = ROUTES.find((r) => r.path === GMAIL_PUSH_PATH)!.endpoint({ env: () => unconfigured });
      const refused = await endpoint(new Request(route.url, { method: "POST", headers: { authorization: `Bearer ${await sender.token()}` }, body: sender.envelope({ emailAddress: "a@b.c", historyId: "1" }) }));
      expect(refused.status).toBe(404);
    });

    it("never writes a push token in its logs", async () => {
      await route.settle();
      const token = await sender.token();
      await push({ emailAddress: "inconnu@lokario.test", historyId: "1" }, token);
      await push({ emailAddress: "inconnu@lokario.test", historyId: "1" }, `${token}x`);
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.join("\n")).not.toContain(token.split(".")[2]!);
    });
  });
});
