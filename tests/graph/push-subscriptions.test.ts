// The upkeep of Graph subscriptions, on real PostgreSQL and the local Graph server: one per folder
// of every active Graph mailbox, made by the scheduled sync's first step, renewed before expiry,
// refused for a shared mailbox (which stays polled), recreated or renewed on Graph's lifecycle
// notices, deleted with the mailbox.

import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { inboxSyncJob } from "../../lib/app/inbox-sync-job.js";
import { inboxIntegrations, jobRuns, mailPushSubscriptions } from "../../lib/db/schema.js";
import { hashClientState } from "../../lib/graph/client-state.js";
import { keepGraphSubscriptions, SHARED_MAILBOX_REFUSAL } from "../../lib/graph/push-upkeep.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { silentLogger } from "../../lib/log.js";
import { testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { startGraphServer, type TestGraphServer } from "../support/graph-server.js";
import { addGraphMailbox, integrationRow, type ServedRoute, serveNotificationRoute } from "./push-kit.js";

describe("Graph subscriptions' upkeep", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg");
  const clock = { ms: Date.now() };
  const now = () => new Date(clock.ms);
  let graph: TestGraphServer;
  let route: ServedRoute;
  let env: Record<string, string>;

  beforeAll(async () => {
    graph = await startGraphServer({ authorizationServer, now });
    route = await serveNotificationRoute({ env: () => env, now });
    env = testEnv(database, { PUBLIC_BASE_URL: route.baseUrl, MICROSOFT_GRAPH_BASE_URL: graph.baseUrl });
  });
  afterAll(async () => {
    await route.settle();
    await route.close();
    await graph.close();
  });

  const keep = () => keepGraphSubscriptions({ db: database.db, config: testConfig(database, env), now, log: silentLogger, notificationUrl: route.url });
  const rowsOf = (integrationId: number) =>
    database.db.select().from(mailPushSubscriptions).where(eq(mailPushSubscriptions.integrationId, integrationId)).orderBy(mailPushSubscriptions.folder);

  it("creates one subscription per folder as the scheduled sync's first step, keeping only the clientState's hash", async () => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);

    const summary = await runJob(inboxSyncJob, {}, { config: testConfig(database, env), log: silentLogger, trigger: "test", now, db: database.db });

    expect(summary.pushSubscriptions).toMatchObject({ created: 2, failed: 0 });
    const rows = await rowsOf(mailbox.integrationId);
    expect(rows.map((r) => [r.folder, r.state])).toEqual([["inbox", "active"], ["sentitems", "active"]]);
    for (const row of rows) {
      const atGraph = graph.subscriptions.get(row.subscriptionId!)!;
      expect(atGraph.mailbox).toBe(mailbox.address);
      expect(row.clientStateHash).toBe(hashClientState(atGraph.clientState!));
      expect(row.clientStateHash).not.toContain(atGraph.clientState!);
      expect(row.expiresAt!.toISOString()).toBe(new Date(atGraph.expirationDateTime!).toISOString());
    }
    expect(new Set(rows.map((r) => graph.subscriptions.get(r.subscriptionId!)!.clientState)).size).toBe(2);
  });

  it("leaves a subscription with days to live alone, and renews it once less than two days are left", async () => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);
    await keep();
    const [inbox] = await rowsOf(mailbox.integrationId);
    const patchesBefore = graph.requests.filter((r) => r.method === "PATCH").length;

    expect((await keep()).renewed).toBe(0);
    clock.ms = inbox!.expiresAt!.getTime() - 24 * 3_600_000;
    const summary = await keep();

    expect(summary.renewed).toBeGreaterThanOrEqual(2);
    expect(graph.requests.filter((r) => r.method === "PATCH").length).toBeGreaterThan(patchesBefore);
    const [renewed] = await rowsOf(mailbox.integrationId);
    clock.ms = Date.now();
    expect(renewed!.subscriptionId).toBe(inbox!.subscriptionId);
    expect(renewed!.expiresAt!.getTime()).toBeGreaterThan(inbox!.expiresAt!.getTime());
  });

  it("records a shared mailbox's refusal in French, keeps it polled, and does not ask again within the day", async () => {
    const shared = await addGraphMailbox(database.db, graph, authorizationServer, { consentingAccount: `alice-${Date.now()}@contoso.test` });

    await keep();

    const rows = await rowsOf(shared.integrationId);
    expect(rows.map((r) => [r.folder, r.state, r.lastError])).toEqual([
      ["inbox", "refused", SHARED_MAILBOX_REFUSAL], ["sentitems", "refused", SHARED_MAILBOX_REFUSAL],
    ]);
    expect((await integrationRow(database.db, shared.integrationId)).isActive).toBe(true);
    const posts = graph.requests.filter((r) => r.method === "POST" && r.path === "/subscriptions").length;
    await keep();
    expect(graph.requests.filter((r) => r.method === "POST" && r.path === "/subscriptions").length).toBe(posts);
  });

  it("renews on reauthorizationRequired, and syncs the mailbox at once on missed", async () => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);
    await keep();
    const [inbox, sent] = await rowsOf(mailbox.integrationId);
    const patchesBefore = graph.requests.filter((r) => r.method === "PATCH" && r.path === `/subscriptions/${inbox!.subscriptionId}`).length;

    expect(await graph.sendLifecycleEvent(inbox!.subscriptionId!, "reauthorizationRequired")).toBe(202);
    await route.settle();
    expect(graph.requests.filter((r) => r.method === "PATCH" && r.path === `/subscriptions/${inbox!.subscriptionId}`).length).toBe(patchesBefore + 1);

    const pushRuns = async () => (await database.db.select().from(jobRuns).where(eq(jobRuns.trigger, "push")))
      .filter((run) => (run.summary as { integrations?: { attempted?: number } } | null)?.integrations?.attempted === 1).length;
    const runsBefore = await pushRuns();
    expect(await graph.sendLifecycleEvent(sent!.subscriptionId!, "missed")).toBe(202);
    await route.settle();
    const [, notified] = await rowsOf(mailbox.integrationId);
    expect(notified!.lastNotifiedAt).not.toBeNull();
    expect(await pushRuns()).toBe(runsBefore + 1);
  });

  it("recreates a subscription Graph says it removed, with a new id and a new clientState", async () => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);
    await keep();
    const [inbox] = await rowsOf(mailbox.integrationId);

    expect(await graph.sendLifecycleEvent(inbox!.subscriptionId!, "subscriptionRemoved")).toBe(202);
    await route.settle();

    const [recreated] = await rowsOf(mailbox.integrationId);
    expect(recreated!.state).toBe("active");
    expect(recreated!.subscriptionId).not.toBe(inbox!.subscriptionId);
    expect(recreated!.clientStateHash).not.toBe(inbox!.clientStateHash);
    // The old subscription's notices are no longer the product's.
    const old = await fetch(route.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ value: [{ subscriptionId: inbox!.subscriptionId, clientState: graph.subscriptions.get(inbox!.subscriptionId!)?.clientState ?? "x", changeType: "created", resource: "Users/u/Messages/m" }] }),
    });
    expect(old.status).toBe(202);
  });

  it("deletes the subscriptions of a disabled mailbox, at Graph and in its rows", async () => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);
    await keep();
    const ids = (await rowsOf(mailbox.integrationId)).map((r) => r.subscriptionId!);
    await database.db.update(inboxIntegrations).set({ isActive: false }).where(eq(inboxIntegrations.id, mailbox.integrationId));

    const summary = await keep();

    expect(summary.deleted).toBe(2);
    expect(ids.every((id) => !graph.subscriptions.has(id))).toBe(true);
    const rows = await rowsOf(mailbox.integrationId);
    expect(rows.every((r) => r.state === "removed" && r.subscriptionId === null && r.clientStateHash === null)).toBe(true);
  });

  it("makes no subscription without PUBLIC_BASE_URL: the mailbox is polled", async () => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);
    const { PUBLIC_BASE_URL: _unset, ...withoutBase } = env;

    const summary = await runJob(inboxSyncJob, {}, { config: testConfig(database, withoutBase), log: silentLogger, trigger: "test", now, db: database.db });

    expect(summary.pushSubscriptions).toBeUndefined();
    expect(await database.db.select().from(mailPushSubscriptions)
      .where(and(eq(mailPushSubscriptions.integrationId, mailbox.integrationId), eq(mailPushSubscriptions.state, "active")))).toHaveLength(0);
  });

});
