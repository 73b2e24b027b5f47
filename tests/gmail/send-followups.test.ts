// Follow-ups sent through the Gmail API (a mailbox whose transport is 'gmail-api'), against the
// local Gmail server with real tokens from the tests' authorization server and real PostgreSQL:
// users.messages.send with the raw MIME and the copy under SENT, exactly once when the answer is
// lost, Retry-After obeyed, nothing sent when the wait would pass the run, a refusal kept apart.

import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { inboxIntegrations, inboxMessages, notifications } from "../../lib/db/schema.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { consentAs, oidcEnv } from "../support/authorization-server.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { startGmailServer, type TestGmailServer } from "../support/gmail-server.js";
import { attemptsOf, historyOf, runFollowups, seedInvoiceFollowup } from "../followups/seed.js";

const FIRST_DAY = new Date("2026-03-09T09:00:00Z");
const NEXT_DAY = new Date("2026-03-10T09:00:00Z");
/** When the second reminder of an invoice due on 2 March is due. */
const SECOND_STEP_DAY = new Date("2026-03-23T09:00:00Z");
let serial = 0;

describe("follow-ups sent through the Gmail API", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let gmail: TestGmailServer;
  let config: Config;

  beforeAll(async () => {
    gmail = await startGmailServer({ authorizationServer });
    config = testConfig(database, { ...oidcEnv(), OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri, GMAIL_API_BASE_URL: gmail.url });
  });
  afterAll(async () => {
    await gmail.close();
  });

  /** An invoice follow-up due on FIRST_DAY whose company's primary mailbox is read and sent over the Gmail API. */
  const companyOnGmail = async () => {
    const mailbox = `contact-${process.pid}-${++serial}@lokario.test`;
    const seeded = await seedInvoiceFollowup(database.db);
    const start = await startAuthorization(database.db, config, { companyId: seeded.companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, now: FIRST_DAY });
    const saved = await completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, mailbox), FIRST_DAY);
    await database.db.update(inboxIntegrations).set({ mailTransport: "gmail-api" }).where(eq(inboxIntegrations.id, saved.integrationId));
    return { ...seeded, mailbox, integrationId: saved.integrationId };
  };
  const sentTo = (mailbox: string, address: string) =>
    gmail.mailbox(mailbox).messages.filter((m) => m.labelIds.includes("SENT") && m.raw.toString("utf8").includes(`To: ${address}`));
  const sends = (mailbox: string) => gmail.requests.filter((r) => r.user === mailbox && r.method === "users.messages.send");

  it("sends a due follow-up once by users.messages.send in raw MIME, from the mailbox, with its copy under SENT", async () => {
    const seeded = await companyOnGmail();

    const run = await runFollowups(config, FIRST_DAY);
    const again = await runFollowups(config, new Date(FIRST_DAY.getTime() + 60_000));

    expect(run).toMatchObject({ sent: 1, failed: 0, uncertain: 0 });
    expect(again).toMatchObject({ sent: 0 });
    const [mail, ...more] = sentTo(seeded.mailbox, seeded.clientEmail);
    expect(more).toEqual([]);
    const [attempt] = await attemptsOf(database.db, seeded.followupId);
    expect(attempt).toMatchObject({ state: "sent" });
    expect(mail!.raw.toString("utf8")).toContain(`Message-ID: ${attempt!.messageId}`);
    expect(mail!.raw.toString("utf8")).toMatch(new RegExp(`From: .*${seeded.mailbox.replace(/[.+]/g, "\\$&")}`));
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(1);
  });

  it("sends the next reminder in the Gmail thread of the first, answering it (In-Reply-To, References), and keeps the thread with the sent message", async () => {
    const seeded = await companyOnGmail();

    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1 });
    expect(await runFollowups(config, SECOND_STEP_DAY)).toMatchObject({ sent: 1 });

    const [first, second, ...more] = sentTo(seeded.mailbox, seeded.clientEmail);
    expect(more).toEqual([]);
    const [firstAttempt, secondAttempt] = await attemptsOf(database.db, seeded.followupId);
    expect(first!.raw.toString("utf8")).not.toMatch(/^In-Reply-To:/im);
    expect(second!.raw.toString("utf8")).toMatch(new RegExp(`^In-Reply-To: ${firstAttempt!.messageId}`, "im"));
    expect(second!.raw.toString("utf8")).toMatch(new RegExp(`^References: ${firstAttempt!.messageId}`, "im"));
    expect(second!.raw.toString("utf8")).toContain(`Message-ID: ${secondAttempt!.messageId}`);
    // The request named the thread, and Gmail kept the reminder in it.
    const sendBodies = sends(seeded.mailbox).map((r) => r.body as { threadId?: string } | undefined);
    expect(sendBodies.map((b) => b?.threadId)).toEqual([undefined, first!.threadId]);
    expect(second!.threadId).toBe(first!.threadId);
    const sentRows = await database.db.select({ externalId: inboxMessages.externalId, sourceThreadId: inboxMessages.sourceThreadId })
      .from(inboxMessages).where(eq(inboxMessages.integrationId, seeded.integrationId)).orderBy(asc(inboxMessages.id));
    expect(sentRows).toEqual([
      { externalId: firstAttempt!.messageId, sourceThreadId: first!.threadId },
      { externalId: secondAttempt!.messageId, sourceThreadId: first!.threadId },
    ]);
  });

  it("leaves the step uncertain, the company told, when the answer to users.messages.send is lost, and never sends it again on the next run", async () => {
    const seeded = await companyOnGmail();
    gmail.failNext("users.messages.send", { kind: "drop", when: "after" });

    const run = await runFollowups(config, FIRST_DAY);
    const next = await runFollowups(config, NEXT_DAY);

    expect(run).toMatchObject({ sent: 0, failed: 1, failures: [expect.objectContaining({ kind: "uncertain" })] });
    expect(next).toMatchObject({ sent: 0 });
    expect(sentTo(seeded.mailbox, seeded.clientEmail)).toHaveLength(1);
    expect(sends(seeded.mailbox)).toHaveLength(1);
    const [attempt, ...others] = await attemptsOf(database.db, seeded.followupId);
    expect(others).toEqual([]);
    expect(attempt).toMatchObject({ state: "uncertain" });
    expect(attempt!.handedOverAt).not.toBeNull();
    expect(await historyOf(database.db, seeded.followupId)).toEqual([]);
    const notices = await database.db.select().from(notifications).where(eq(notifications.companyId, seeded.companyId));
    expect(notices.map((notice) => notice.title)).toContain("Relance automatique à vérifier");
  });

  it("waits out a 429 with Retry-After and then sends once", async () => {
    const seeded = await companyOnGmail();
    gmail.failNext("users.messages.send", { kind: "quota", status: 429, reason: "rateLimitExceeded", retryAfterSeconds: 1 });

    const run = await runFollowups(config, FIRST_DAY);

    expect(run).toMatchObject({ sent: 1, failed: 0, uncertain: 0 });
    expect(sends(seeded.mailbox).map((r) => r.status)).toEqual([429, 200]);
    expect(sentTo(seeded.mailbox, seeded.clientEmail)).toHaveLength(1);
  });

  it("sends nothing and keeps the step for a later run when Retry-After asks for longer than the run has", async () => {
    const seeded = await companyOnGmail();
    gmail.failNext("users.messages.send", { kind: "quota", status: 403, reason: "userRateLimitExceeded", retryAfterSeconds: 300 });

    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: 0, failed: 1, uncertain: 0 });
    expect(sentTo(seeded.mailbox, seeded.clientEmail)).toEqual([]);

    const later = await runFollowups(config, new Date(FIRST_DAY.getTime() + 10 * 60_000));
    expect(later).toMatchObject({ sent: 1 });
    expect(sentTo(seeded.mailbox, seeded.clientEmail)).toHaveLength(1);
  });

  it("is not uncertain when Google refuses the message (400): nothing was sent", async () => {
    const seeded = await companyOnGmail();
    gmail.failNext("users.messages.send", { kind: "bad-request", message: "Invalid To header" });

    const run = await runFollowups(config, FIRST_DAY);

    expect(run).toMatchObject({ sent: 0, failed: 1, uncertain: 0 });
    expect(sentTo(seeded.mailbox, seeded.clientEmail)).toEqual([]);
    expect((await attemptsOf(database.db, seeded.followupId)).map((a) => a.state)).not.toContain("uncertain");
  });
});
