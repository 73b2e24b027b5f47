// The inbox sync of a Google mailbox read over the Gmail API (`mail_transport` 'gmail-api'), end to
// end: the mailbox connected through the OAuth2 flow with the tests' authorization server, its
// INBOX and SENT labels served by the local Gmail server, the rows in PostgreSQL. First sync on the
// recent window, live mail from the history after, repeats and crashes without duplicates, a
// history id Gmail no longer keeps, a window longer than one run, quota refusals.

import { and, asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { conversations, inboxFolderCursors, inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { claimDueIntegrations } from "../../lib/inbox/claim-integrations.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { syncIntegration } from "../../lib/inbox/sync-integration.js";
import { startBudget } from "../../lib/jobs/budget.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { attachmentStorageFor } from "../../lib/storage/attachment-storage.js";
import { consentAs, oidcEnv } from "../support/authorization-server.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { startGmailServer, type TestGmailServer } from "../support/gmail-server.js";
import { seedCompany } from "../followups/seed.js";
import { mail as gmailMail } from "./gmail-kit.js";

const DAY_MS = 24 * 3_600_000;

/** A message whose Date header says `at` (the instant it is delivered at, too). */
function mail(options: { subject: string; to: string; from?: string; headers?: Record<string, string> }, at: Date): Buffer {
  return Buffer.from(gmailMail(options).toString().replace(/^Date: .*$/m, `Date: ${at.toUTCString()}`));
}
let serial = 0;

describe("inbox sync over the Gmail API", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let gmail: TestGmailServer;
  let config: Config;
  let clockMs: number;
  const now = () => new Date(clockMs);
  const log = createLogger("test", { level: "silent" });

  beforeAll(async () => {
    gmail = await startGmailServer({ authorizationServer });
    config = testConfig(database, { ...oidcEnv(), OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri, GMAIL_API_BASE_URL: gmail.url });
  });
  afterAll(async () => {
    await gmail.close();
  });

  const address = (who: string) => `${who}-${++serial}-${clockMs}@lokario.test`;
  /** A mailbox connected with its own consent, then read over the Gmail API. */
  const connect = async (mailbox: string) => {
    const companyId = await seedCompany(database.db, undefined, "Plomberie Martin");
    const start = await startAuthorization(database.db, config, { companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, now: now() });
    const { integrationId } = await completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, mailbox), now());
    await database.db.update(inboxIntegrations).set({ mailTransport: "gmail-api", connectedAt: now() }).where(eq(inboxIntegrations.id, integrationId));
    return { integrationId, companyId };
  };
  const sync = (integrationId: number) => runJob(syncAllJob, { integrationId }, { config, log, trigger: "test", now });
  const messagesOf = (integrationId: number) =>
    database.db
      .select({
        subject: conversations.subject, isFromClient: inboxMessages.isFromClient, isBackfill: inboxMessages.isBackfill, folder: inboxMessages.folder,
        uid: inboxMessages.uid, sourceMessageId: inboxMessages.sourceMessageId, sourceThreadId: inboxMessages.sourceThreadId, conversationId: inboxMessages.conversationId,
      })
      .from(inboxMessages)
      .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
      .where(eq(inboxMessages.integrationId, integrationId))
      .orderBy(asc(inboxMessages.id));
  const cursorOf = async (integrationId: number, folder: string) =>
    (await database.db.select().from(inboxFolderCursors).where(and(eq(inboxFolderCursors.integrationId, integrationId), eq(inboxFolderCursors.folder, folder))))[0];

  it("imports the window's INBOX and SENT mail on a first sync (SENT as the business's own, mail to oneself once, spam and older mail left), then live mail from the history", async () => {
    clockMs = Date.now();
    const mailbox = address("contact");
    const { integrationId } = await connect(mailbox);
    const asked = new Date(clockMs - 2 * DAY_MS);
    const question = gmail.deliver(mailbox, mail({ subject: "Devis cuisine", to: mailbox, headers: {} }, asked), { labelIds: ["INBOX", "UNREAD"], internalDate: asked });
    const questionId = /Message-ID: <([^>]+)>/.exec(question.raw.toString())![1]!;
    gmail.deliver(mailbox, mail({ subject: "Vieille facture", to: mailbox }, new Date(clockMs - 60 * DAY_MS)), { labelIds: ["INBOX"], internalDate: new Date(clockMs - 60 * DAY_MS) });
    gmail.deliver(mailbox, mail({ subject: "Gagnez un iPhone", to: mailbox }, asked), { labelIds: ["SPAM"], internalDate: asked });
    gmail.deliver(mailbox, mail({ subject: "Note à moi-même", from: mailbox, to: mailbox }, asked), { labelIds: ["INBOX", "SENT"], internalDate: asked });
    const answer = gmail.deliver(mailbox, mail({ subject: "Re: Devis cuisine", from: mailbox, to: "client@example.com", headers: { "In-Reply-To": `<${questionId}>` } }, new Date(clockMs - DAY_MS)), {
      labelIds: ["SENT"], internalDate: new Date(clockMs - DAY_MS), threadId: question.threadId,
    });

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 3 });

    const first = await messagesOf(integrationId);
    expect(first).toMatchObject([
      { subject: "Devis cuisine", isFromClient: true, isBackfill: true, folder: "INBOX", uid: null, sourceMessageId: question.id },
      { isFromClient: false, isBackfill: true, folder: "SENT", uid: null },
      { isFromClient: false, isBackfill: true, folder: "SENT", uid: null },
    ]);
    expect(first.find((m) => m.sourceMessageId === answer.id)?.conversationId).toBe(first[0]!.conversationId);
    // Gmail's thread is kept with each message: a follow-up answering it through this mailbox joins it.
    expect(first.find((m) => m.sourceMessageId === answer.id)?.sourceThreadId).toBe(question.threadId);
    expect(first[0]!.sourceThreadId).toBe(question.threadId);
    expect((await cursorOf(integrationId, "INBOX"))).toMatchObject({ sourceCursor: gmail.mailbox(mailbox).historyId, backfillUntilUid: null });

    clockMs += 60_000;
    const arrived = gmail.deliver(mailbox, mail({ subject: "Nouvelle demande", to: mailbox }, now()), { labelIds: ["INBOX"], internalDate: now() });
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 1 });
    expect((await messagesOf(integrationId)).at(-1)).toMatchObject({ subject: "Nouvelle demande", isFromClient: true, isBackfill: false, sourceMessageId: arrived.id });
    expect(gmail.requests.some((r) => r.method === "users.history.list" && r.user === mailbox)).toBe(true);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });
  });

  it("imports nothing twice when a run is repeated, or when a run stored its messages and crashed before moving its cursor", async () => {
    clockMs = Date.now();
    const mailbox = address("devis");
    const { integrationId } = await connect(mailbox);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });
    const before = (await cursorOf(integrationId, "INBOX"))!.sourceCursor;
    for (let i = 0; i < 12; i++) gmail.deliver(mailbox, mail({ subject: `Demande ${i}`, to: mailbox }, now()), { labelIds: ["INBOX"], internalDate: now() });
    expect(await sync(integrationId)).toMatchObject({ messagesImported: 12 });
    await database.db.update(inboxFolderCursors).set({ sourceCursor: before })
      .where(and(eq(inboxFolderCursors.integrationId, integrationId), eq(inboxFolderCursors.folder, "INBOX")));

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });

    expect(await messagesOf(integrationId)).toHaveLength(12);
    expect((await cursorOf(integrationId, "INBOX"))!.sourceCursor).not.toBe(before);
  });

  it("reads the recent window again without duplicates when Gmail no longer keeps the stored history id (404), and still imports what arrived", async () => {
    clockMs = Date.now();
    const mailbox = address("compta");
    const { integrationId } = await connect(mailbox);
    gmail.deliver(mailbox, mail({ subject: "Facture 12", to: mailbox }, new Date(clockMs - DAY_MS)), { labelIds: ["INBOX"], internalDate: new Date(clockMs - DAY_MS) });
    expect(await sync(integrationId)).toMatchObject({ messagesImported: 1 });
    clockMs += 60_000;
    gmail.deliver(mailbox, mail({ subject: "Relance facture 12", to: mailbox }, now()), { labelIds: ["INBOX"], internalDate: now() });
    gmail.forgetHistory(mailbox);

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 1 });

    expect((await messagesOf(integrationId)).map((m) => [m.subject, m.isBackfill])).toEqual([["Facture 12", true], ["Relance facture 12", false]]);
    expect(gmail.requests.some((r) => r.user === mailbox && r.method === "users.history.list" && r.status === 404)).toBe(true);
    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });
  });

  it("reads on a first sync only the newest initial_sync_max_messages of the window", async () => {
    clockMs = Date.now();
    const mailbox = address("chantiers");
    const { integrationId } = await connect(mailbox);
    await database.db.update(inboxIntegrations).set({ initialSyncMaxMessages: 2 }).where(eq(inboxIntegrations.id, integrationId));
    for (const [subject, daysAgo] of [["Chantier A", 3], ["Chantier B", 2], ["Chantier C", 1]] as const) {
      gmail.deliver(mailbox, mail({ subject, to: mailbox }, new Date(clockMs - daysAgo * DAY_MS)), { labelIds: ["INBOX"], internalDate: new Date(clockMs - daysAgo * DAY_MS) });
    }

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 2 });

    expect((await messagesOf(integrationId)).map((m) => m.subject).sort()).toEqual(["Chantier B", "Chantier C"]);
  });

  it("stops a window longer than the run's budget after a batch, says work is left, and the next run imports the rest after it without duplicates", async () => {
    clockMs = Date.now();
    const mailbox = address("gros-volume");
    const { integrationId } = await connect(mailbox);
    for (let i = 0; i < 130; i++) {
      gmail.deliver(mailbox, mail({ subject: `Commande ${i}`, to: mailbox }, new Date(clockMs - DAY_MS + i * 1_000)), { labelIds: ["INBOX"], internalDate: new Date(clockMs - DAY_MS + i * 1_000) });
    }
    const [claimed] = await claimDueIntegrations(database.db, { owner: "short-run", leaseMs: 60_000, limit: 1, now: now(), integrationId });
    const stop = new AbortController();
    let checks = 0;
    const budget = { budgetMs: 60_000, remainingMs: () => 60_000, isExhausted: () => checks++ > 0, signal: stop.signal };

    const outcome = await syncIntegration({
      db: database.db, config, log, now, budget, owner: "short-run", storage: attachmentStorageFor(config, database.db), reserveMs: 1_000, hardStop: stop.signal,
    }, claimed!);

    expect(outcome).toMatchObject({ status: "success", hasMore: true });
    const firstRun = outcome.imported;
    expect(firstRun).toBeGreaterThan(0);
    expect(firstRun).toBeLessThan(130);
    expect((await cursorOf(integrationId, "INBOX"))?.sourceCursor).toMatch(/^window:/);
    const gets = () => gmail.requests.filter((r) => r.user === mailbox && r.method === "users.messages.get").length;
    const getsBefore = gets();

    expect(await sync(integrationId)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 130 - firstRun });

    expect(gets() - getsBefore).toBeLessThan(130);
    expect(await messagesOf(integrationId)).toHaveLength(130);
    expect((await cursorOf(integrationId, "INBOX"))?.backfillUntilUid).toBeNull();
  });

  it("waits out Gmail's 429 and 403 userRateLimitExceeded for as long as they say, then imports the mail", async () => {
    clockMs = Date.now();
    const mailbox = address("atelier");
    const { integrationId } = await connect(mailbox);
    gmail.deliver(mailbox, mail({ subject: "Rendez-vous", to: mailbox }, new Date(clockMs - DAY_MS)), { labelIds: ["INBOX"], internalDate: new Date(clockMs - DAY_MS) });
    const waits: number[] = [];
    const [claimed] = await claimDueIntegrations(database.db, { owner: "throttled-run", leaseMs: 60_000, limit: 1, now: now(), integrationId });
    const budget = startBudget(60_000);
    gmail.failNext("users.messages.get", { kind: "quota", status: 429, reason: "rateLimitExceeded", retryAfterSeconds: 7 }, { kind: "quota", status: 403, reason: "userRateLimitExceeded", retryAfterSeconds: 3 });

    const outcome = await syncIntegration({
      db: database.db, config, log, now, budget, owner: "throttled-run", storage: attachmentStorageFor(config, database.db),
      reserveMs: 1_000, hardStop: budget.signal,
      gmail: { sleep: async (ms) => {
        waits.push(ms);
        clockMs += ms;
      }, random: () => 0.5 },
    }, claimed!);

    expect(outcome).toMatchObject({ status: "success", imported: 1 });
    // Each Retry-After waited by the call (the mailbox's quota pace holds for as long, too).
    expect(waits.filter((ms) => ms >= 1_000)).toEqual(expect.arrayContaining([7_000, 3_000]));
    expect(gmail.requests.filter((r) => r.user === mailbox && r.method === "users.messages.get").map((r) => r.status)).toEqual([429, 403, 200]);
  });
});
