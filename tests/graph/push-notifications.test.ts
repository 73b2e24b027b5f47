// The Graph notification route, as Microsoft Graph and an attacker reach it, on real PostgreSQL and
// the local Graph server: the validation handshake, the clientState of each subscription, notices
// for subscriptions the product does not hold, bodies capped while read, and the one mailbox a
// notice makes due (synced at once under the cron's lease).

import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GRAPH_NOTIFICATIONS_PATH } from "../../lib/app/graph-notifications-endpoint.js";
import { ROUTES } from "../../lib/app/routes.js";
import { inboxIntegrations, inboxMessages, jobRuns, mailPushSubscriptions } from "../../lib/db/schema.js";
import { MAX_NOTIFICATION_BODY_BYTES } from "../../lib/graph/notification-endpoint.js";
import { keepGraphSubscriptions } from "../../lib/graph/push-upkeep.js";
import { silentLogger } from "../../lib/log.js";
import { testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { startGraphServer, type TestGraphServer } from "../support/graph-server.js";
import { waitFor } from "../support/ports.js";
import { rawMessage } from "./graph-harness.js";
import { addGraphMailbox, type GraphMailboxRow, integrationRow, type ServedRoute, serveNotificationRoute } from "./push-kit.js";

describe("Graph notification route", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg");
  const logLines: string[] = [];
  let graph: TestGraphServer;
  let route: ServedRoute;
  let env: Record<string, string>;

  beforeAll(async () => {
    graph = await startGraphServer({ authorizationServer });
    route = await serveNotificationRoute({ env: () => env, logSink: (line) => logLines.push(line) });
    env = testEnv(database, { PUBLIC_BASE_URL: route.baseUrl, MICROSOFT_GRAPH_BASE_URL: graph.baseUrl, LOG_LEVEL: "debug" });
  });
  afterAll(async () => {
    await route.settle();
    await route.close();
    await graph.close();
  });

  /** A Graph mailbox of its own company with its inbox and Sent Items subscribed through the route. */
  const subscribedMailbox = async (): Promise<GraphMailboxRow & { inboxSubscription: string }> => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);
    const config = testConfig(database, env);
    await keepGraphSubscriptions({ db: database.db, config, now: () => new Date(), log: silentLogger, notificationUrl: route.url });
    const [row] = await database.db.select().from(mailPushSubscriptions)
      .where(and(eq(mailPushSubscriptions.integrationId, mailbox.integrationId), eq(mailPushSubscriptions.folder, "inbox")));
    return { ...mailbox, inboxSubscription: row!.subscriptionId! };
  };
  const post = (body: unknown, init: RequestInit = {}) =>
    fetch(route.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), ...init });
  const notice = (subscriptionId: string, clientState: string) => ({
    value: [{
      subscriptionId, clientState, changeType: "created", tenantId: "t",
      resource: "Users/u/Messages/m1", resourceData: { id: "m1" }, subscriptionExpirationDateTime: new Date(Date.now() + 3_600_000).toISOString(),
    }],
  });

  it("answers Graph's validation POST with the decoded token as text/plain, before anything else", async () => {
    const token = "Validation: Testing client application reachability for subscription Request-Id: 1";
    const response = await fetch(`${route.url}?validationToken=${encodeURIComponent(token)}`, { method: "POST" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await response.text()).toBe(token);
  });

  it("is the route the subscriptions name: Graph validated it when each was created", async () => {
    const mailbox = await subscribedMailbox();
    const created = [...graph.subscriptions.values()].filter((s) => s.mailbox === mailbox.address);
    expect(created.map((s) => s.folder).sort()).toEqual(["inbox", "sentitems"]);
    expect(created.every((s) => s.notificationUrl === route.url && s.lifecycleNotificationUrl === route.url)).toBe(true);
    expect(new URL(route.url).search).toBe("");
  });

  it("makes exactly the notified mailbox due and records the notice, then syncs it at once under a lease", async () => {
    const notified = await subscribedMailbox();
    const other = await subscribedMailbox();
    const before = new Date();

    await graph.deliver(notified.address, "inbox", rawMessage({ from: "client@example.com", to: notified.address, subject: "Devis", messageId: "<push-1@example.com>" }));

    const delivery = graph.notifications.find((n) => n.subscriptionId === notified.inboxSubscription);
    expect(delivery?.status).toBe(202);
    const [subscription] = await database.db.select().from(mailPushSubscriptions)
      .where(eq(mailPushSubscriptions.subscriptionId, notified.inboxSubscription));
    expect(subscription!.lastNotifiedAt!.getTime()).toBeGreaterThanOrEqual(before.getTime());
    await route.settle();
    const runs = await database.db.select().from(jobRuns).where(eq(jobRuns.trigger, "push"));
    expect(runs.some((run) => (run.summary as { integrations?: { attempted?: number } }).integrations?.attempted === 1)).toBe(true);
    const untouched = await integrationRow(database.db, other.integrationId);
    expect(untouched.nextSyncAt).toEqual(new Date("2099-01-01T00:00:00Z"));
    expect(untouched.lastSyncAt).toBeNull();
    const otherRows = await database.db.select().from(mailPushSubscriptions).where(eq(mailPushSubscriptions.integrationId, other.integrationId));
    expect(otherRows.every((row) => row.lastNotifiedAt === null)).toBe(true);
  });

  it("does nothing twice when a cron run holds the mailbox: it stays due now, the push run passes over it", async () => {
    const mailbox = await subscribedMailbox();
    const leaseUntil = new Date(Date.now() + 600_000);
    await database.db.update(inboxIntegrations).set({ leaseOwner: "cron-run", leaseUntil }).where(eq(inboxIntegrations.id, mailbox.integrationId));
    const subscription = graph.subscriptions.get(mailbox.inboxSubscription)!;
    const before = Date.now();

    const response = await post(notice(mailbox.inboxSubscription, subscription.clientState!));
    await route.settle();

    expect(response.status).toBe(202);
    const row = await integrationRow(database.db, mailbox.integrationId);
    expect(row.nextSyncAt!.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect(row.nextSyncAt!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(row.leaseOwner).toBe("cron-run");
    expect(row.lastSyncAt).toBeNull();
  });

  it("stores a mail whose notice came while the mailbox's own push sync held it, without waiting for the next notice or poll", async () => {
    const mailbox = await subscribedMailbox();
    const hold = graph.holdMimeOf(mailbox.address);
    const finishedPushRuns = async () => (await database.db.select().from(jobRuns).where(eq(jobRuns.trigger, "push"))).filter((run) => run.finishedAt).length;
    await graph.deliver(mailbox.address, "inbox", rawMessage({ from: "client@example.com", to: mailbox.address, subject: "Premier", messageId: "<held-1@example.com>" }));
    // The first notice's sync has read the folder and is fetching that mail when the second one arrives.
    await waitFor("the first sync fetching its mail", () => hold.waiting() === 1);
    const finishedBefore = await finishedPushRuns();
    await graph.deliver(mailbox.address, "inbox", rawMessage({ from: "client@example.com", to: mailbox.address, subject: "Second", messageId: "<held-2@example.com>" }));
    await waitFor("the second notice's run passing over the held mailbox", async () => (await finishedPushRuns()) > finishedBefore);

    hold.releaseAll();
    await route.settle();

    const rows = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, mailbox.integrationId));
    expect(rows.map((row) => row.externalId).sort()).toEqual(["<held-1@example.com>", "<held-2@example.com>"]);
  });

  it("refuses a forged clientState with 403 and makes nothing due", async () => {
    const mailbox = await subscribedMailbox();

    const response = await post(notice(mailbox.inboxSubscription, "guessed-client-state"));

    expect(response.status).toBe(403);
    const row = await integrationRow(database.db, mailbox.integrationId);
    expect(row.nextSyncAt).toEqual(new Date("2099-01-01T00:00:00Z"));
    const rows = await database.db.select().from(mailPushSubscriptions).where(eq(mailPushSubscriptions.integrationId, mailbox.integrationId));
    expect(rows.every((r) => r.lastNotifiedAt === null)).toBe(true);
  });

  it("refuses one company's clientState on another company's subscription: the other mailbox is not made due", async () => {
    const attacker = await subscribedMailbox();
    const victim = await subscribedMailbox();
    const attackersOwnSecret = graph.subscriptions.get(attacker.inboxSubscription)!.clientState!;

    const response = await post(notice(victim.inboxSubscription, attackersOwnSecret));

    expect(response.status).toBe(403);
    expect((await integrationRow(database.db, victim.integrationId)).nextSyncAt).toEqual(new Date("2099-01-01T00:00:00Z"));
    expect((await integrationRow(database.db, attacker.integrationId)).nextSyncAt).toEqual(new Date("2099-01-01T00:00:00Z"));
  });

  it("drops a notice for a subscription it does not hold with 202, so Graph stops sending it, and does nothing", async () => {
    const runsBefore = (await database.db.select().from(jobRuns)).length;

    const response = await post(notice("00000000-0000-4000-8000-000000000000", "anything"));
    await route.settle();

    expect(response.status).toBe(202);
    expect(await database.db.select().from(jobRuns)).toHaveLength(runsBefore);
  });

  it("stops reading an endless body at the cap and answers 413", async () => {
    const endpoint = ROUTES.find((r) => r.path === GRAPH_NOTIFICATIONS_PATH)!.endpoint({ env: () => env });
    let pulledBytes = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulledBytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });

    const response = await endpoint(new Request(`https://lokario.example${GRAPH_NOTIFICATIONS_PATH}`, { method: "POST", body, duplex: "half" } as RequestInit));

    expect(response.status).toBe(413);
    expect(pulledBytes).toBeLessThanOrEqual(MAX_NOTIFICATION_BODY_BYTES + 2 * chunk.byteLength);
  });

  it("answers 405 with Allow to anything but POST", async () => {
    const response = await fetch(route.url);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("never writes a subscription's clientState in its logs", async () => {
    await route.settle();
    const secrets = [...graph.subscriptions.values()].map((s) => s.clientState!).filter(Boolean);
    expect(secrets.length).toBeGreaterThan(0);
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(logLines.join("\n")).not.toContain(secret);
  });
});
