// The Graph notification route through each platform's entry point: the Netlify function (handed
// Netlify's context, whose waitUntil keeps the one-mailbox sync alive after the answer) and the
// Vercel function (whose runtime offers waitUntil through its request context, read by
// @vercel/functions), on real PostgreSQL.

import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { POST as vercelPost, GET as vercelGet } from "../../api/inbox/graph/notifications.js";
import { GRAPH_NOTIFICATIONS_PATH } from "../../lib/app/graph-notifications-endpoint.js";
import { mailPushSubscriptions } from "../../lib/db/schema.js";
import { keepGraphSubscriptions } from "../../lib/graph/push-upkeep.js";
import { silentLogger } from "../../lib/log.js";
import netlifyFn, { config as netlifyConfig } from "../../netlify/functions/graph-notifications.mjs";
import { testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { startGraphServer, type TestGraphServer } from "../support/graph-server.js";
import { addGraphMailbox, type ServedRoute, serveNotificationRoute } from "../graph/push-kit.js";

/** Where Vercel's runtime puts the request's context (what @vercel/functions' getContext reads). */
const VERCEL_REQUEST_CONTEXT = Symbol.for("@vercel/request-context");

describe("Graph notification route on Vercel and Netlify", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg");
  const savedEnv = { ...process.env };
  let graph: TestGraphServer;
  let route: ServedRoute;
  let env: Record<string, string>;

  beforeAll(async () => {
    graph = await startGraphServer({ authorizationServer });
    route = await serveNotificationRoute({ env: () => env });
    env = testEnv(database, { PUBLIC_BASE_URL: route.baseUrl, MICROSOFT_GRAPH_BASE_URL: graph.baseUrl });
    Object.assign(process.env, env);
  });
  afterAll(async () => {
    process.env = savedEnv;
    await route.settle();
    await route.close();
    await graph.close();
  });

  /** A subscribed Graph mailbox and a genuine notice of its inbox subscription. */
  const genuineNotice = async () => {
    const mailbox = await addGraphMailbox(database.db, graph, authorizationServer);
    await keepGraphSubscriptions({ db: database.db, config: testConfig(database, env), now: () => new Date(), log: silentLogger, notificationUrl: route.url });
    const [row] = await database.db.select().from(mailPushSubscriptions)
      .where(and(eq(mailPushSubscriptions.integrationId, mailbox.integrationId), eq(mailPushSubscriptions.folder, "inbox")));
    const clientState = graph.subscriptions.get(row!.subscriptionId!)!.clientState!;
    const body = JSON.stringify({ value: [{ subscriptionId: row!.subscriptionId, clientState, changeType: "created", resource: "Users/u/Messages/m" }] });
    return { subscriptionId: row!.subscriptionId!, body };
  };
  const lastNotifiedAt = async (subscriptionId: string) =>
    (await database.db.select().from(mailPushSubscriptions).where(eq(mailPushSubscriptions.subscriptionId, subscriptionId)))[0]!.lastNotifiedAt;

  it("is served by Netlify on the route's path and answers the validation handshake as text", async () => {
    expect(netlifyConfig.path).toBe(GRAPH_NOTIFICATIONS_PATH);
    const response = await netlifyFn(new Request(`https://site.netlify.app${GRAPH_NOTIFICATIONS_PATH}?validationToken=a%20b%3Ac`, { method: "POST" }));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await response.text()).toBe("a b:c");
  });

  it("on Netlify, answers a genuine notice at once and hands the mailbox's sync to the context's waitUntil", async () => {
    const { subscriptionId, body } = await genuineNotice();
    const kept: Promise<unknown>[] = [];

    const response = await (netlifyFn as (req: Request, context: { waitUntil(p: Promise<unknown>): void }) => Promise<Response>)(
      new Request(`https://site.netlify.app${GRAPH_NOTIFICATIONS_PATH}`, { method: "POST", body, headers: { "content-type": "application/json" } }),
      { waitUntil: (p) => kept.push(p) },
    );

    expect(response.status).toBe(202);
    expect(kept).toHaveLength(1);
    await Promise.all(kept);
    expect(await lastNotifiedAt(subscriptionId)).not.toBeNull();
  });

  it("is served by Vercel, answers the validation handshake, and refuses GET with 405", async () => {
    const response = await vercelPost(new Request(`https://app.vercel.app${GRAPH_NOTIFICATIONS_PATH}?validationToken=tok`, { method: "POST" }));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("tok");
    expect((await vercelGet(new Request(`https://app.vercel.app${GRAPH_NOTIFICATIONS_PATH}`))).status).toBe(405);
  });

  it("on Vercel, answers a genuine notice at once and hands the mailbox's sync to the runtime's waitUntil", async () => {
    const { subscriptionId, body } = await genuineNotice();
    const kept: Promise<unknown>[] = [];
    const global = globalThis as Record<symbol, unknown>;
    global[VERCEL_REQUEST_CONTEXT] = { get: () => ({ waitUntil: (p: Promise<unknown>) => kept.push(p) }) };
    try {
      const response = await vercelPost(new Request(`https://app.vercel.app${GRAPH_NOTIFICATIONS_PATH}`, { method: "POST", body, headers: { "content-type": "application/json" } }));
      expect(response.status).toBe(202);
    } finally {
      delete global[VERCEL_REQUEST_CONTEXT];
    }
    expect(kept).toHaveLength(1);
    await Promise.all(kept);
    expect(await lastNotifiedAt(subscriptionId)).not.toBeNull();
  });
});
