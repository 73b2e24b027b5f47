// Choosing the Gmail API as a Google mailbox's transport when connecting it: `via=gmail-api` (the
// CLI's --via gmail-api, the start endpoint, a signed link) asks Google for gmail.readonly and
// gmail.send instead of IMAP and SMTP's https://mail.google.com/, the mailbox is saved read and sent
// through the Gmail API, a link cannot be edited to change it; and a mailbox already synced over
// IMAP switched to the Gmail API keeps its rows: nothing is imported twice.

import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { inboxIntegrations, inboxMessages, oauthAuthorizationRequests } from "../../lib/db/schema.js";
import type { MailSource } from "../../lib/inbox/mail-source.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { syncMailbox } from "../../lib/inbox/sync-mailbox.js";
import { startBudget } from "../../lib/jobs/budget.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { OAUTH_START_PATH, oauthCallbackEndpoint, oauthStartEndpoint } from "../../lib/oauth/oauth-endpoints.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { attachmentStorageFor } from "../../lib/storage/attachment-storage.js";
import { consentAs, oidcEnv } from "../support/authorization-server.js";
import { TEST_CRON_SECRET, testConfig, testEnv } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { startGmailServer, type TestGmailServer } from "../support/gmail-server.js";
import { runCli } from "../endpoints/run-cli.js";
import { seedCompany } from "../followups/seed.js";
import { appBrowser, formOf } from "../oauth/app-browser.js";
import { mail } from "./gmail-kit.js";

const APPS = { MICROSOFT_CLIENT_ID: "00000000-0000-4000-8000-00000000a11c", MICROSOFT_CLIENT_SECRET: "test-secret", GOOGLE_CLIENT_ID: "google-app", GOOGLE_CLIENT_SECRET: "google-secret" };
const DAY_MS = 24 * 3_600_000;
let serial = 0;

describe("choosing the Gmail API as a Google mailbox's transport when connecting it", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let gmail: TestGmailServer;
  let env: Record<string, string>;
  let config: Config;
  const now = () => new Date();
  const log = createLogger("test", { level: "silent" });

  beforeAll(async () => {
    gmail = await startGmailServer({ authorizationServer });
    env = testEnv(database, { ...oidcEnv(), ...APPS, OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri, GMAIL_API_BASE_URL: gmail.url });
    config = testConfig(database, env);
  });
  afterAll(async () => {
    await gmail.close();
  });

  const scopesOf = (url: string) => new URL(url).searchParams.get("scope")!.split(" ");
  const endpointOptions = () => ({ env: () => env, db: database.db, now });
  const startAnswer = (query: Record<string, string>) =>
    oauthStartEndpoint(endpointOptions())(new Request(`https://app.test${OAUTH_START_PATH}?${new URLSearchParams(query)}`, {
      headers: { authorization: `Bearer ${TEST_CRON_SECRET}` },
    }));
  const integrationsOf = (companyId: number) => database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));
  const linkOf = async (query: Record<string, string>) => new URL(((await (await startAnswer({ ...query, format: "link" })).json()) as { link: string }).link);

  it("asks Google for gmail.readonly and gmail.send with via gmail-api, and https://mail.google.com/ by default", async () => {
    const companyId = await seedCompany(database.db);
    const start = (transport?: "gmail-api") =>
      startAuthorization(database.db, config, { companyId, provider: "google", redirectUri: authorizationServer.webRedirectUri, now: now(), ...(transport ? { transport } : {}) });

    const imap = await start();
    const api = await start("gmail-api");

    expect(scopesOf(imap.url)).toContain("https://mail.google.com/");
    expect(scopesOf(api.url)).toEqual(["https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.send", "openid", "email"]);
  });

  it("refuses the Gmail API for a Microsoft mailbox or a shared mailbox, and records no authorization", async () => {
    const companyId = await seedCompany(database.db);
    const before = await database.db.$count(oauthAuthorizationRequests);

    await expect(startAuthorization(database.db, config, { companyId, provider: "microsoft", transport: "gmail-api", redirectUri: authorizationServer.webRedirectUri, now: now() }))
      .rejects.toMatchObject({ kind: "bad-input", message: expect.stringContaining("cannot be connected through the Gmail API") });
    await expect(startAuthorization(database.db, config, {
      companyId, provider: "google", transport: "gmail-api", mailboxAddress: "contact@lokario.test", redirectUri: authorizationServer.webRedirectUri, now: now(),
    })).rejects.toMatchObject({ kind: "bad-input" });
    expect((await startAnswer({ company: String(companyId), provider: "microsoft", via: "gmail-api", format: "link" })).status).toBe(400);
    expect(await database.db.$count(oauthAuthorizationRequests)).toBe(before);
  });

  it("connects through a signed link with via=gmail-api: the confirmed mailbox is read and sent through the Gmail API", async () => {
    const companyId = await seedCompany(database.db);
    const address = `owner-${process.pid}-${++serial}@lokario.test`;
    const link = await linkOf({ company: String(companyId), provider: "oidc", via: "gmail-api" });
    expect(link.searchParams.get("via")).toBe("gmail-api");
    const browser = appBrowser({ start: oauthStartEndpoint(endpointOptions()), callback: oauthCallbackEndpoint(endpointOptions()) });

    const page = await (await browser.open(link.href)).text();
    const toProvider = await browser.open(formOf(page, link.href).action, {});
    const back = await consentAs(authorizationServer, toProvider.headers.get("location")!, address);
    const confirmation = await (await browser.open(back)).text();
    const form = formOf(confirmation, back);
    const saved = await browser.open(form.action, { ...form.fields, action: "confirm" });

    expect(saved.status).toBe(200);
    expect(await integrationsOf(companyId)).toMatchObject([{ emailAddress: address, mailTransport: "gmail-api", mailTransportReason: null }]);
  });

  it("refuses a signed link whose via was changed to or from gmail-api after signing, and starts nothing", async () => {
    const companyId = String(await seedCompany(database.db));
    const apiLink = await linkOf({ company: companyId, provider: "oidc", via: "gmail-api" });
    const graphLink = await linkOf({ company: companyId, provider: "oidc", via: "graph" });
    const toGraph = new URL(apiLink);
    toGraph.searchParams.set("via", "graph");
    const toApi = new URL(graphLink);
    toApi.searchParams.set("via", "gmail-api");
    const removed = new URL(apiLink);
    removed.searchParams.delete("via");
    const before = await database.db.$count(oauthAuthorizationRequests);

    for (const forged of [toGraph, toApi, removed]) {
      const browser = appBrowser({ start: oauthStartEndpoint(endpointOptions()), callback: oauthCallbackEndpoint(endpointOptions()) });
      expect((await browser.open(forged.href)).status).toBe(403);
    }
    expect(await database.db.$count(oauthAuthorizationRequests)).toBe(before);
  });

  it("takes --via gmail-api on the CLI and names it among the transports", async () => {
    const companyId = await seedCompany(database.db);

    const refused = await runCli(["integrations", "connect", "--provider", "oidc", "--company", String(companyId), "--via", "pop3", "--paste"], env);

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--via must be one of imap, graph, gmail-api");
  });

  it("switches a mailbox synced over IMAP to the Gmail API without importing its mail again: the same messages are known by their Message-ID", async () => {
    const mailbox = `bascule-${process.pid}-${++serial}@lokario.test`;
    const companyId = await seedCompany(database.db, undefined, "Menuiserie Roux");
    const connect = async (transport?: "gmail-api") => {
      const start = await startAuthorization(database.db, config, { companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, now: now(), ...(transport ? { transport } : {}) });
      return (await completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, mailbox), now())).integrationId;
    };
    const integrationId = await connect();
    const day = (n: number) => new Date(Date.now() - n * DAY_MS);
    const question = mail({ subject: "Devis escalier", to: mailbox });
    const answer = mail({ subject: "Re: Devis escalier", from: mailbox, to: "client@example.com" });
    gmail.deliver(mailbox, question, { labelIds: ["INBOX"], internalDate: day(3) });
    gmail.deliver(mailbox, answer, { labelIds: ["SENT"], internalDate: day(2) });
    // The same two messages as the IMAP sync stored them (Gmail over IMAP: INBOX and [Gmail]/Sent Mail, keyed by UID).
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    for (const [path, direction, source, at] of [["INBOX", "inbound", question, day(3)], ["[Gmail]/Sent Mail", "outbound", answer, day(2)]] as const) {
      await syncMailbox({
        db: database.db, source: overImap(source, at), log, integration: row!, owner: "imap-run", now, budget: startBudget(60_000), reserveMs: 0,
        storage: attachmentStorageFor(config, database.db), maxMessageBytes: config.maxMessageBytes, maxAttachmentBytes: config.maxAttachmentBytes,
      }, { path, direction });
    }
    expect(await database.db.$count(inboxMessages, eq(inboxMessages.integrationId, integrationId))).toBe(2);
    gmail.deliver(mailbox, mail({ subject: "Question de suivi", to: mailbox }), { labelIds: ["INBOX"], internalDate: day(1) });

    expect(await connect("gmail-api")).toBe(integrationId);
    expect(await runJob(syncAllJob, { integrationId }, { config, log, trigger: "test", now })).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 1 });

    const rows = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((r) => r.dedupeKey)).size).toBe(3);
    expect(rows.filter((r) => r.sourceMessageId !== null)).toHaveLength(1);
    expect(gmail.requests.filter((r) => r.user === mailbox && r.method === "users.messages.get")).toHaveLength(3);
  });
});

/** One message in one folder, keyed by UID, as an IMAP source hands it to the shared import. */
function overImap(source: Buffer, internalDate: Date): MailSource {
  return {
    listFolders: async () => [],
    openFolder: async () => ({
      epoch: 7,
      isCaughtUp: false,
      async *readChanges() {
        yield { messages: [{ uid: 1, sizeBytes: source.length, internalDate, source, isOversize: false }], isBackfill: true, position: 1, bytes: source.length };
      },
      advanceCursor: async () => {},
      fetchRaw: async () => source,
      close: () => {},
    }),
  };
}
