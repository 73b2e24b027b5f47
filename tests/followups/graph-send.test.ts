// Follow-ups sent through Microsoft Graph (a mailbox whose transport is 'graph'), against the local
// Graph server with real tokens from the tests' authorization server and real PostgreSQL: sendMail
// in MIME with the copy in Sent Items, exactly once when the answer is lost, Retry-After obeyed, a
// shared mailbox sending as itself, and access withdrawn.

import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { inboxIntegrations, notifications } from "../../lib/db/schema.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { consentAs, oidcEnv } from "../support/authorization-server.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { startGraphServer, type TestGraphServer } from "../support/graph-server.js";
import { attemptsOf, historyOf, runFollowups, seedInvoiceFollowup } from "./seed.js";

const FIRST_DAY = new Date("2026-03-09T09:00:00Z");
const NEXT_DAY = new Date("2026-03-10T09:00:00Z");
let serial = 0;

describe("follow-ups sent through Microsoft Graph", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let graph: TestGraphServer;
  let config: Config;

  beforeAll(async () => {
    graph = await startGraphServer({ authorizationServer });
    config = testConfig(database, { ...oidcEnv(), OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri, MICROSOFT_GRAPH_BASE_URL: graph.baseUrl });
  });
  afterAll(async () => {
    await graph.close();
  });

  const newAddress = (who: string) => `${who}-${process.pid}-${++serial}@contoso.test`;
  /** An invoice follow-up due on FIRST_DAY whose company's primary mailbox is `mailbox`, connected through Graph (via graph). */
  const companyOnGraph = async (options: { shared?: boolean } = {}) => {
    const member = newAddress("alice");
    const mailbox = options.shared ? newAddress("contact") : member;
    graph.addMailbox(member);
    if (options.shared) {
      graph.addMailbox(mailbox);
      graph.grant(mailbox, member);
    }
    const seeded = await seedInvoiceFollowup(database.db);
    const start = await startAuthorization(database.db, config, {
      companyId: seeded.companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri,
      ...(options.shared ? { mailboxAddress: mailbox } : {}), transport: "graph", now: FIRST_DAY,
    });
    const saved = await completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, member), FIRST_DAY);
    return { ...seeded, mailbox, member, integrationId: saved.integrationId };
  };
  const sentTo = (address: string) => graph.sent.filter((mail) => mail.mime.toString("utf8").includes(`To: ${address}`));

  it("sends a due follow-up once by sendMail in MIME, from the mailbox, with its copy in Sent Items", async () => {
    const seeded = await companyOnGraph();

    const run = await runFollowups(config, FIRST_DAY);
    const again = await runFollowups(config, new Date(FIRST_DAY.getTime() + 60_000));

    expect(run).toMatchObject({ sent: 1, failed: 0, uncertain: 0 });
    expect(again).toMatchObject({ sent: 0 });
    const [mail, ...more] = sentTo(seeded.clientEmail);
    expect(more).toEqual([]);
    expect(mail).toMatchObject({ mailbox: seeded.mailbox, sentBy: seeded.member });
    const [attempt] = await attemptsOf(database.db, seeded.followupId);
    expect(attempt).toMatchObject({ state: "sent" });
    expect(mail!.mime.toString("utf8")).toContain(`Message-ID: ${attempt!.messageId}`);
    const copies = graph.messages(seeded.mailbox, "sentitems").filter((copy) => copy.internetMessageId === attempt!.messageId);
    expect(copies).toHaveLength(1);
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(1);
  });

  it("leaves the step uncertain, the company told, when the answer to sendMail is lost, and never sends it again on the next run", async () => {
    const seeded = await companyOnGraph();
    graph.failNextSendMail({ kind: "drop-connection" });

    const run = await runFollowups(config, FIRST_DAY);
    const next = await runFollowups(config, NEXT_DAY);

    expect(run).toMatchObject({ sent: 0, failed: 1, failures: [expect.objectContaining({ kind: "uncertain" })] });
    expect(next).toMatchObject({ sent: 0 });
    expect(sentTo(seeded.clientEmail)).toHaveLength(1);
    const [attempt, ...others] = await attemptsOf(database.db, seeded.followupId);
    expect(others).toEqual([]);
    expect(attempt).toMatchObject({ state: "uncertain" });
    expect(attempt!.handedOverAt).not.toBeNull();
    expect(await historyOf(database.db, seeded.followupId)).toEqual([]);
    const notices = await database.db.select().from(notifications).where(eq(notifications.companyId, seeded.companyId));
    expect(notices.map((notice) => notice.title)).toContain("Relance automatique à vérifier");
  });

  it("waits out a 429 with Retry-After and then sends once", async () => {
    const seeded = await companyOnGraph();
    const before = graph.requests.length;
    graph.throttle({ status: 429, retryAfter: "1" });

    const run = await runFollowups(config, FIRST_DAY);

    expect(run).toMatchObject({ sent: 1, failed: 0, uncertain: 0 });
    expect(graph.requests.slice(before).filter((request) => request.path.endsWith("/sendMail"))).toHaveLength(2);
    expect(sentTo(seeded.clientEmail)).toHaveLength(1);
  });

  it("sends nothing and keeps the step for a later run when Retry-After asks for longer than the run has", async () => {
    const seeded = await companyOnGraph();
    graph.throttle({ status: 429, retryAfter: "300" });

    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: 0, failed: 1, uncertain: 0 });
    expect(await attemptsOf(database.db, seeded.followupId)).toEqual([]);
    expect(sentTo(seeded.clientEmail)).toEqual([]);

    const later = await runFollowups(config, new Date(FIRST_DAY.getTime() + 10 * 60_000));
    expect(later).toMatchObject({ sent: 1 });
    expect(sentTo(seeded.clientEmail)).toHaveLength(1);
  });

  it("sends from a shared mailbox as the shared address at /users/{address}, with the member's token", async () => {
    const seeded = await companyOnGraph({ shared: true });
    const before = graph.requests.length;

    const run = await runFollowups(config, FIRST_DAY);

    expect(run).toMatchObject({ sent: 1, failed: 0 });
    const [mail] = sentTo(seeded.clientEmail);
    expect(mail).toMatchObject({ mailbox: seeded.mailbox, sentBy: seeded.member });
    expect(mail!.mime.toString("utf8")).toContain(seeded.mailbox);
    const sendRequest = graph.requests.slice(before).find((request) => request.path.endsWith("/sendMail"));
    expect(sendRequest?.path).toBe(`/users/${encodeURIComponent(seeded.mailbox)}/sendMail`);
    expect(graph.messages(seeded.mailbox, "sentitems")).toHaveLength(1);
  });

  it("is an auth failure that sends nothing and asks for reconnection, naming the shared mailbox, when the member's access to it was withdrawn", async () => {
    const seeded = await companyOnGraph({ shared: true });
    graph.revoke(seeded.mailbox, seeded.member);

    const run = await runFollowups(config, FIRST_DAY);

    expect(run).toMatchObject({ sent: 0, failed: 1, uncertain: 0 });
    expect(sentTo(seeded.clientEmail)).toEqual([]);
    expect(await attemptsOf(database.db, seeded.followupId)).toEqual([]);
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, seeded.integrationId));
    expect(row!.oauthReconnectNeededAt).not.toBeNull();
    const notices = await database.db.select().from(notifications).where(eq(notifications.companyId, seeded.companyId));
    expect(notices.map((notice) => notice.message).join("\n")).toContain(seeded.mailbox);

    const next = await runFollowups(config, NEXT_DAY);
    expect(next).toMatchObject({ sent: 0, skippedByReason: { mailbox_needs_reconnection: 1 } });
  });

  it("lets another member reconnect the shared mailbox through Graph: the same integration, its history kept, and the waiting follow-up then leaves once from the shared address", async () => {
    const seeded = await companyOnGraph({ shared: true });
    graph.revoke(seeded.mailbox, seeded.member);
    await runFollowups(config, FIRST_DAY);
    const bob = newAddress("bob");
    graph.addMailbox(bob);
    graph.grant(seeded.mailbox, bob);

    const start = await startAuthorization(database.db, config, {
      companyId: seeded.companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, mailboxAddress: seeded.mailbox, transport: "graph", now: NEXT_DAY,
    });
    const reconnected = await completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, bob), NEXT_DAY);
    const run = await runFollowups(config, NEXT_DAY);

    expect(reconnected).toMatchObject({ integrationId: seeded.integrationId, isNew: false, consentingAccount: bob });
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, seeded.integrationId));
    expect(row).toMatchObject({ oauthReconnectNeededAt: null, oauthConsentingAccount: bob, mailTransport: "graph", emailAddress: seeded.mailbox });
    expect(run).toMatchObject({ sent: 1, failed: 0 });
    const [mail, ...more] = sentTo(seeded.clientEmail);
    expect(more).toEqual([]);
    expect(mail).toMatchObject({ mailbox: seeded.mailbox, sentBy: bob });
  });
});
