// The inbox sync of a mailbox read over Microsoft Graph (`mail_transport` 'graph'), end to end: the
// mailbox connected through the OAuth2 flow with the tests' authorization server, its Inbox and Sent
// Items served by the local Graph server, the rows in PostgreSQL. First sync on the recent window,
// live mail after, repeats and crashes without duplicates, an expired delta token, throttling, a
// shared mailbox at /users/{address}, and access withdrawn.

import { and, asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { decryptSecret } from "../../lib/crypto/secret-box.js";
import { conversations, inboxFolderCursors, inboxIntegrations, inboxMessages, inboxQuarantine, notifications } from "../../lib/db/schema.js";
import { claimDueIntegrations } from "../../lib/inbox/claim-integrations.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { syncIntegration } from "../../lib/inbox/sync-integration.js";
import { startBudget } from "../../lib/jobs/budget.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { attachmentStorageFor } from "../../lib/storage/attachment-storage.js";
import { consentAs, grantMailboxAccess, oidcEnv, revokeToken } from "../support/authorization-server.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { startGraphServer, type TestGraphServer } from "../support/graph-server.js";
import { seedCompany } from "../followups/seed.js";
import { rawMessage } from "./graph-harness.js";

const DAY_MS = 24 * 3_600_000;
let serial = 0;

describe("inbox sync over Microsoft Graph", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let graph: TestGraphServer;
  let config: Config;
  let clockMs: number;
  const now = () => new Date(clockMs);
  const log = createLogger("test", { level: "silent" });

  const envFor = (extra: Record<string, string> = {}) => ({
    ...oidcEnv(),
    OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri,
    MICROSOFT_GRAPH_BASE_URL: graph.baseUrl,
    ...extra,
  });
  beforeAll(async () => {
    graph = await startGraphServer({ authorizationServer });
    config = testConfig(database, envFor());
  });
  afterAll(async () => {
    await graph.close();
  });

  const address = (who: string) => `${who}-${++serial}-${clockMs}@contoso.test`;
  /** A mailbox on the Graph server connected over Graph with `member`'s consent (the mailbox's own when absent). */
  const connect = async (mailbox: string, member = mailbox) => {
    graph.addMailbox(mailbox);
    graph.addMailbox(member);
    if (member !== mailbox) {
      graph.grant(mailbox, member);
      await grantMailboxAccess(authorizationServer, member, mailbox);
    }
    const companyId = await seedCompany(database.db, undefined, "Plomberie Martin");
    const start = await startAuthorization(database.db, config, {
      companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, ...(member !== mailbox ? { mailboxAddress: mailbox } : {}), now: now(),
    });
    const { integrationId } = await completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, member), now());
    await database.db.update(inboxIntegrations).set({ mailTransport: "graph", connectedAt: now() }).where(eq(inboxIntegrations.id, integrationId));
    return { integrationId, companyId };
  };
  const mail = (to: string, subject: string, at: Date, extra: { from?: string; messageId?: string } = {}) =>
    rawMessage({ from: extra.from ?? "client@example.com", to, subject, messageId: extra.messageId ?? `<${subject.replace(/\W+/g, ".")}.${++serial}@example.com>`, date: at });
  const sync = (integrationId: number, runConfig = config) => runJob(syncAllJob, { integrationId }, { config: runConfig, log, trigger: "test", now });
  const messagesOf = (integrationId: number) =>
    database.db
      .select({
        subject: conversations.subject, isFromClient: inboxMessages.isFromClient, isBackfill: inboxMessages.isBackfill, folder: inboxMessages.folder,
        uid: inboxMessages.uid, sourceMessageId: inboxMessages.sourceMessageId, conversationId: inboxMessages.conversationId, content: inboxMessages.content,
      })
      .from(inboxMessages)
      .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
      .where(eq(inboxMessages.integrationId, integrationId))
      .orderBy(asc(inboxMessages.id));
  const cursorOf = async (integrationId: number, folder: string) =>
    (await database.db.select().from(inboxFolderCursors).where(and(eq(inboxFolderCursors.integrationId, integrationId), eq(inboxFolderCursors.folder, folder))))[0];
  const integrationRow = async (id: number) => (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;

  it("imports the recent window of Inbox and Sent Items on a first sync into one conversation (Sent as the business's own, backfill), then live mail on the next run", async () => {
    clockMs = Date.now();
    const mailbox = address("contact");
    const { integrationId } = await connect(mailbox);
    const asked = new Date(clockMs - 2 * DAY_MS);
    const question = await graph.deliver(mailbox, "inbox", mail(mailbox, "Devis cuisine", asked, { messageId: "<devis.1@example.com>" }), asked);
    await graph.deliver(mailbox, "inbox", mail(mailbox, "Vieille facture", new Date(clockMs - 60 * DAY_MS)), new Date(clockMs - 60 * DAY_MS));
    const answeredAt = new Date(clockMs - DAY_MS);
    const answer = [
      `From: ${mailbox}`, "To: client@example.com", "Subject: Re: Devis cuisine", "Message-ID: <answer.1@contoso.test>",
      "In-Reply-To: <devis.1@example.com>", `Date: ${answeredAt.toUTCString()}`, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", "Voici le devis.", "",
    ].join("\r\n");
    await graph.deliver(mailbox, "sentitems", answer, answeredAt);

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 2 });

    const first = await messagesOf(integrationId);
    expect(first).toMatchObject([
      { subject: "Devis cuisine", isFromClient: true, isBackfill: true, folder: "inbox", uid: null, sourceMessageId: question },
      { subject: "Devis cuisine", isFromClient: false, isBackfill: true, folder: "sentitems", uid: null },
    ]);
    expect(first[1]!.conversationId).toBe(first[0]!.conversationId);
    expect((await cursorOf(integrationId, "inbox"))?.sourceCursor).toMatch(/\$deltatoken=/);

    clockMs += 60_000;
    const arrived = new Date(clockMs);
    await graph.deliver(mailbox, "inbox", mail(mailbox, "Nouvelle demande", arrived), arrived);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 1 });
    expect((await messagesOf(integrationId)).at(-1)).toMatchObject({ subject: "Nouvelle demande", isFromClient: true, isBackfill: false });
    expect(graph.requests.some((r) => r.path.startsWith("/users/"))).toBe(false);
  });

  it("reads on a first sync only the newest initial_sync_max_messages of the window", async () => {
    clockMs = Date.now();
    const mailbox = address("chantiers");
    const { integrationId } = await connect(mailbox);
    await database.db.update(inboxIntegrations).set({ initialSyncMaxMessages: 2 }).where(eq(inboxIntegrations.id, integrationId));
    for (const [subject, daysAgo] of [["Chantier A", 3], ["Chantier B", 2], ["Chantier C", 1]] as const) {
      const at = new Date(clockMs - daysAgo * DAY_MS);
      await graph.deliver(mailbox, "inbox", mail(mailbox, subject, at), at);
    }

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 2 });

    expect((await messagesOf(integrationId)).map((m) => m.subject).sort()).toEqual(["Chantier B", "Chantier C"]);
  });

  it("claims a Graph mailbox while the IMAP server its row still names is at its session bound", async () => {
    clockMs = Date.now();
    const mailbox = address("accueil");
    const { integrationId } = await connect(mailbox);
    const { imapServer } = await integrationRow(integrationId);
    expect(imapServer).not.toBeNull();

    const claimed = await claimDueIntegrations(database.db, {
      owner: "busy-run", leaseMs: 60_000, limit: 1, now: now(), integrationId, excludedHosts: [imapServer!.trim().toLowerCase()],
    });

    expect(claimed.map((c) => c.id)).toEqual([integrationId]);
  });

  it("imports nothing twice when a run is repeated, or when a run stored a page and crashed before moving its cursor", async () => {
    clockMs = Date.now();
    const mailbox = address("devis");
    const { integrationId } = await connect(mailbox);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });
    const before = (await cursorOf(integrationId, "inbox"))!.sourceCursor;
    for (let i = 0; i < 12; i++) {
      clockMs += 1_000;
      await graph.deliver(mailbox, "inbox", mail(mailbox, `Demande ${i}`, now()), now());
    }
    expect(await sync(integrationId)).toMatchObject({ messagesImported: 12 });
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });
    // The rows are in but the cursor is back where it was: a crash between the two.
    await database.db.update(inboxFolderCursors).set({ sourceCursor: before })
      .where(and(eq(inboxFolderCursors.integrationId, integrationId), eq(inboxFolderCursors.folder, "inbox")));

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });

    expect(await messagesOf(integrationId)).toHaveLength(12);
    expect((await cursorOf(integrationId, "inbox"))!.sourceCursor).not.toBe(before);
  });

  it("reads the recent window again without duplicates when Graph refuses the stored delta token (410 syncStateNotFound), and still imports what arrived", async () => {
    clockMs = Date.now();
    const mailbox = address("compta");
    const { integrationId } = await connect(mailbox);
    await graph.deliver(mailbox, "inbox", mail(mailbox, "Facture 12", new Date(clockMs - DAY_MS)), new Date(clockMs - DAY_MS));
    expect(await sync(integrationId)).toMatchObject({ messagesImported: 1 });
    graph.expireDeltaTokens(mailbox);
    clockMs += 60_000;
    await graph.deliver(mailbox, "inbox", mail(mailbox, "Relance facture 12", now()), now());

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 1 });

    expect((await messagesOf(integrationId)).map((m) => [m.subject, m.isBackfill])).toEqual([["Facture 12", true], ["Relance facture 12", false]]);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });
  });

  it("waits out a 429 for as long as its Retry-After says, then imports the mail", async () => {
    clockMs = Date.now();
    const mailbox = address("atelier");
    const { integrationId } = await connect(mailbox);
    await graph.deliver(mailbox, "inbox", mail(mailbox, "Rendez-vous", new Date(clockMs - DAY_MS)), new Date(clockMs - DAY_MS));
    const waits: number[] = [];
    const [claimed] = await claimDueIntegrations(database.db, { owner: "throttled-run", leaseMs: 60_000, limit: 1, now: now(), integrationId });
    const budget = startBudget(60_000);
    graph.throttle({ status: 429, retryAfter: "7" });

    const outcome = await syncIntegration({
      db: database.db, config, log, now, budget, owner: "throttled-run", storage: attachmentStorageFor(config, database.db),
      reserveMs: 1_000, hardStop: budget.signal,
      graph: { sleep: async (ms) => void waits.push(ms) },
    }, claimed!);

    expect(outcome).toMatchObject({ status: "success", imported: 1 });
    expect(waits).toEqual([7_000]);
  });

  it("stops taking pages when the run budget is spent, says work is left, and the next run imports the rest without duplicates", async () => {
    clockMs = Date.now();
    const mailbox = address("gros-volume");
    const { integrationId } = await connect(mailbox);
    for (let i = 0; i < 60; i++) {
      const at = new Date(clockMs - DAY_MS + i * 1_000);
      await graph.deliver(mailbox, "inbox", mail(mailbox, `Commande ${i}`, at), at);
    }
    const [claimed] = await claimDueIntegrations(database.db, { owner: "short-run", leaseMs: 60_000, limit: 1, now: now(), integrationId });
    const stop = new AbortController();
    let checks = 0;
    // Spent once the first page is taken: the page in hand is stored, no other is read.
    const budget = { budgetMs: 60_000, remainingMs: () => 60_000, isExhausted: () => checks++ > 0, signal: stop.signal };

    const outcome = await syncIntegration({
      db: database.db, config, log, now, budget, owner: "short-run", storage: attachmentStorageFor(config, database.db), reserveMs: 1_000, hardStop: stop.signal,
    }, claimed!);

    expect(outcome).toMatchObject({ status: "success", hasMore: true, imported: 50 });
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 10 });
    expect(new Set((await messagesOf(integrationId)).map((m) => m.subject)).size).toBe(60);
    expect(await messagesOf(integrationId)).toHaveLength(60);
  });

  it("keeps only the headers of a message over MAX_MESSAGE_BYTES, with a placeholder, and imports the mail after it", async () => {
    clockMs = Date.now();
    const mailbox = address("plans");
    const { integrationId } = await connect(mailbox);
    const at = new Date(clockMs - DAY_MS);
    const big = rawMessage({ from: "archi@example.com", to: mailbox, subject: "Plans du chantier", messageId: "<plans@example.com>", date: at, body: "x".repeat(200_000) });
    await graph.deliver(mailbox, "inbox", big, at);
    await graph.deliver(mailbox, "inbox", mail(mailbox, "Après les plans", at), new Date(at.getTime() + 1_000));

    expect(await sync(integrationId, testConfig(database, envFor({ MAX_MESSAGE_BYTES: "65536" })))).toMatchObject({ messagesImported: 2 });

    const [plans, after] = await messagesOf(integrationId);
    expect(plans).toMatchObject({ subject: "Plans du chantier" });
    expect(plans!.content).not.toContain("xxxx");
    expect(after).toMatchObject({ subject: "Après les plans" });
    expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId))).toEqual([]);
  });

  it("sets aside, keyed by its Graph id, a message whose bytes are not an e-mail, imports the one after it, and counts one more attempt (no second row) when the window is read again", async () => {
    clockMs = Date.now();
    const mailbox = address("bureau");
    const { integrationId } = await connect(mailbox);
    const at = new Date(clockMs - DAY_MS);
    const broken = await graph.deliver(mailbox, "inbox", Buffer.from([0xff, 0xfe, 0x00, 0x01]), at);
    await graph.deliver(mailbox, "inbox", mail(mailbox, "Après le message illisible", at), new Date(at.getTime() + 1_000));

    expect(await sync(integrationId)).toMatchObject({ messagesImported: 1, messagesSetAside: 1 });
    graph.expireDeltaTokens(mailbox);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0, messagesSetAside: 1 });

    const aside = await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId));
    expect(aside).toMatchObject([{ folder: "inbox", sourceMessageId: broken, uidValidity: null, uid: null, attempts: 2, rawPath: expect.stringContaining("/inbox/id/") }]);
    expect((await messagesOf(integrationId)).map((m) => m.subject)).toEqual(["Après le message illisible"]);
  });

  it("syncs a shared mailbox at /users/{address} with a member's token, not the member's own mail", async () => {
    clockMs = Date.now();
    const shared = address("contact-partage");
    const alice = address("alice");
    const { integrationId } = await connect(shared, alice);
    await graph.deliver(alice, "inbox", mail(alice, "Personnel", new Date(clockMs - DAY_MS)), new Date(clockMs - DAY_MS));
    await graph.deliver(shared, "inbox", mail(shared, "Demande partagée", new Date(clockMs - DAY_MS)), new Date(clockMs - DAY_MS));

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 1 });

    expect((await messagesOf(integrationId)).map((m) => m.subject)).toEqual(["Demande partagée"]);
    const paths = graph.requests.filter((r) => r.user === alice.toLowerCase()).map((r) => r.path);
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.every((p) => p.startsWith(`/users/${encodeURIComponent(shared)}/`))).toBe(true);
  });

  it("records a revoked grant of a Graph mailbox as an auth failure needing reconnection, as for IMAP", async () => {
    clockMs = Date.now();
    const mailbox = address("direction");
    const { integrationId } = await connect(mailbox);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 } });
    await revokeToken(authorizationServer, decryptSecret((await integrationRow(integrationId)).oauthRefreshToken!, { encryptionKey: TEST_ENCRYPTION_KEY }));
    clockMs += 3_600_000;

    expect(await sync(integrationId)).toMatchObject({ integrations: { attempted: 1, failed: 1 } });

    const row = await integrationRow(integrationId);
    expect(row).toMatchObject({ lastSyncErrorKind: "auth", lastSyncStatus: "error" });
    expect(row.oauthReconnectNeededAt).not.toBeNull();
  });

  it("needs reconnection, naming the shared mailbox, when its member's access is withdrawn (403), and is not retried until reconnected", async () => {
    clockMs = Date.now();
    const shared = address("devis-partage");
    const alice = address("alice");
    const { integrationId, companyId } = await connect(shared, alice);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 } });
    graph.revoke(shared, alice);
    clockMs += 3_600_000;

    expect(await sync(integrationId)).toMatchObject({ integrations: { attempted: 1, failed: 1 } });

    const row = await integrationRow(integrationId);
    expect(row).toMatchObject({ lastSyncErrorKind: "auth" });
    expect(row.oauthReconnectNeededAt).not.toBeNull();
    const [alert] = await database.db.select().from(notifications).where(eq(notifications.companyId, companyId));
    expect(alert?.message).toContain(`boîte partagée ${shared}`);
    clockMs += 24 * 3_600_000;
    expect(await runJob(syncAllJob, {}, { config, log, trigger: "test", now })).toMatchObject({ integrations: { attempted: 0 } });
  });
});
