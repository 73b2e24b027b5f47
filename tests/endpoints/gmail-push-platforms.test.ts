// The Gmail push route through each platform's entry point: the Netlify function (handed Netlify's
// context, whose waitUntil keeps the one-mailbox sync alive after the answer) and the Vercel
// function (whose runtime offers waitUntil through its request context, read by
// @vercel/functions), on real PostgreSQL, with tokens signed by the local push sender.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GET as vercelGet, POST as vercelPost } from "../../api/inbox/gmail/push.js";
import { GMAIL_PUSH_PATH } from "../../lib/app/gmail-push-endpoint.js";
import { keepGmailWatches } from "../../lib/gmail/push-upkeep.js";
import { silentLogger } from "../../lib/log.js";
import netlifyFn, { config as netlifyConfig } from "../../netlify/functions/gmail-push.mjs";
import { testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { startGmailServer, type TestGmailServer } from "../support/gmail-server.js";
import { type PushSender, startPushSender } from "../support/push-sender.js";
import { addGmailMailbox, watchRowsOf } from "../gmail/push-kit.js";

/** Where Vercel's runtime puts the request's context (what @vercel/functions' getContext reads). */
const VERCEL_REQUEST_CONTEXT = Symbol.for("@vercel/request-context");
const TOPIC = "projects/lokario-test/topics/gmail";
const AUDIENCE = `https://lokario.example${GMAIL_PUSH_PATH}`;

describe("Gmail push route on Vercel and Netlify", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg");
  const savedEnv = { ...process.env };
  let gmail: TestGmailServer;
  let sender: PushSender;
  let env: Record<string, string>;

  beforeAll(async () => {
    gmail = await startGmailServer({ authorizationServer });
    sender = await startPushSender({ audience: AUDIENCE });
    env = testEnv(database, {
      GMAIL_API_BASE_URL: gmail.url, GMAIL_PUBSUB_TOPIC: TOPIC, GMAIL_PUSH_AUDIENCE: AUDIENCE,
      GMAIL_PUSH_SERVICE_ACCOUNT: sender.serviceAccountEmail, GMAIL_PUSH_JWKS_URL: sender.jwksUrl,
    });
    Object.assign(process.env, env);
  });
  afterAll(async () => {
    process.env = savedEnv;
    await sender.close();
    await gmail.close();
  });

  /** A watched Gmail-API mailbox and a genuine push for it. */
  const genuinePush = async () => {
    const mailbox = await addGmailMailbox(database.db, authorizationServer);
    await keepGmailWatches({ db: database.db, config: testConfig(database, env), now: () => new Date(), log: silentLogger, topicName: TOPIC });
    const request = async (origin: string) => new Request(`${origin}${GMAIL_PUSH_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await sender.token()}` },
      body: sender.envelope({ emailAddress: mailbox.address, historyId: gmail.mailbox(mailbox.address).historyId }),
    });
    return { ...mailbox, request };
  };
  const lastNotifiedAt = async (integrationId: number) => (await watchRowsOf(database.db, integrationId))[0]!.lastNotifiedAt;

  it("on Netlify, on the route's path, answers a genuine push at once and hands the mailbox's sync to the context's waitUntil", async () => {
    expect(netlifyConfig.path).toBe(GMAIL_PUSH_PATH);
    const mailbox = await genuinePush();
    const kept: Promise<unknown>[] = [];

    const response = await (netlifyFn as (req: Request, context: { waitUntil(p: Promise<unknown>): void }) => Promise<Response>)(
      await mailbox.request("https://site.netlify.app"), { waitUntil: (p) => kept.push(p) },
    );

    expect(response.status).toBe(204);
    expect(kept).toHaveLength(1);
    await Promise.all(kept);
    expect(await lastNotifiedAt(mailbox.integrationId)).not.toBeNull();
  });

  it("on Vercel, refuses GET with 405 and a push without a token with 401", async () => {
    expect((await vercelGet(new Request(AUDIENCE))).status).toBe(405);
    const response = await vercelPost(new Request(AUDIENCE, { method: "POST", body: sender.envelope({ emailAddress: "a@lokario.test", historyId: "1" }) }));
    expect(response.status).toBe(401);
  });

  it("on Vercel, answers a genuine push at once and hands the mailbox's sync to the runtime's waitUntil", async () => {
    const mailbox = await genuinePush();
    const kept: Promise<unknown>[] = [];
    const global = globalThis as Record<symbol, unknown>;
    global[VERCEL_REQUEST_CONTEXT] = { get: () => ({ waitUntil: (p: Promise<unknown>) => kept.push(p) }) };
    try {
      const response = await vercelPost(await mailbox.request("https://app.vercel.app"));
      expect(response.status).toBe(204);
    } finally {
      delete global[VERCEL_REQUEST_CONTEXT];
    }
    expect(kept).toHaveLength(1);
    await Promise.all(kept);
    expect(await lastNotifiedAt(mailbox.integrationId)).not.toBeNull();
  });
});
