// Choosing the transport when connecting a mailbox: `via=graph` (the CLI's --via graph, the start
// endpoint, a signed link) asks Microsoft for Graph's mail permissions instead of IMAP and SMTP's,
// and the mailbox is saved read and sent through Graph; a link cannot be edited to change it.

import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { inboxIntegrations, oauthAuthorizationRequests } from "../../lib/db/schema.js";
import { OAUTH_START_PATH, oauthCallbackEndpoint, oauthStartEndpoint } from "../../lib/oauth/oauth-endpoints.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { consentAs, oidcEnv } from "../support/authorization-server.js";
import { TEST_CRON_SECRET, testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { runCli } from "../endpoints/run-cli.js";
import { seedCompany } from "../followups/seed.js";
import { appBrowser, formOf } from "./app-browser.js";

const MICROSOFT_APP = { MICROSOFT_CLIENT_ID: "00000000-0000-4000-8000-00000000a11c", MICROSOFT_CLIENT_SECRET: "test-secret", GOOGLE_CLIENT_ID: "google-app", GOOGLE_CLIENT_SECRET: "google-secret" };
let serial = 0;

describe("choosing Microsoft Graph as a mailbox's transport when connecting it", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg");
  let env: Record<string, string>;
  let config: Config;
  const now = () => new Date();

  beforeAll(() => {
    env = testEnv(database, { ...oidcEnv(), ...MICROSOFT_APP, OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri });
    config = testConfig(database, env);
  });

  const scopesOf = (url: string) => new URL(url).searchParams.get("scope")!.split(" ");
  const startMicrosoft = async (request: { transport?: "imap" | "graph"; mailboxAddress?: string }) => {
    const companyId = await seedCompany(database.db);
    return startAuthorization(database.db, config, { companyId, provider: "microsoft", redirectUri: authorizationServer.webRedirectUri, now: now(), ...request });
  };
  const endpointOptions = () => ({ env: () => env, db: database.db, now });
  const startAnswer = (query: Record<string, string>) =>
    oauthStartEndpoint(endpointOptions())(new Request(`https://app.test${OAUTH_START_PATH}?${new URLSearchParams(query)}`, {
      headers: { authorization: `Bearer ${TEST_CRON_SECRET}` },
    }));
  const integrationsOf = (companyId: number) => database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));

  it("asks Microsoft for Outlook's IMAP and SMTP permissions by default, and Graph's Mail.Read and Mail.Send with via graph", async () => {
    const imap = await startMicrosoft({});
    const graph = await startMicrosoft({ transport: "graph" });

    expect(scopesOf(imap.url)).toEqual(expect.arrayContaining(["https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"]));
    expect(scopesOf(graph.url)).toEqual(["https://graph.microsoft.com/Mail.Read", "https://graph.microsoft.com/Mail.Send", "offline_access", "openid", "email"]);
  });

  it("asks for Mail.Read.Shared and Mail.Send.Shared for a shared mailbox through Graph", async () => {
    const start = await startMicrosoft({ transport: "graph", mailboxAddress: "contact@contoso.test" });

    expect(scopesOf(start.url)).toEqual(expect.arrayContaining(["https://graph.microsoft.com/Mail.Read.Shared", "https://graph.microsoft.com/Mail.Send.Shared", "offline_access"]));
    expect(scopesOf(start.url).some((scope) => scope.startsWith("https://outlook.office.com/"))).toBe(false);
  });

  it("refuses Graph for a Google mailbox, and records no authorization", async () => {
    const companyId = await seedCompany(database.db);
    const before = await database.db.$count(oauthAuthorizationRequests);

    await expect(startAuthorization(database.db, config, { companyId, provider: "google", transport: "graph", redirectUri: authorizationServer.webRedirectUri, now: now() }))
      .rejects.toMatchObject({ kind: "bad-input", message: expect.stringContaining("cannot be connected through Microsoft Graph") });
    expect(await database.db.$count(oauthAuthorizationRequests)).toBe(before);
  });

  it("answers 400 to a start request whose via is not a transport, or Graph for Google", async () => {
    const companyId = String(await seedCompany(database.db));

    const unknown = await startAnswer({ company: companyId, provider: "microsoft", via: "pop3", format: "link" });
    const google = await startAnswer({ company: companyId, provider: "google", via: "graph", format: "link" });

    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("via must be one of imap, graph");
    expect(google.status).toBe(400);
  });

  it("connects through a signed link with via=graph: the confirmed mailbox is read and sent through Graph", async () => {
    const companyId = await seedCompany(database.db);
    const address = `owner-${process.pid}-${++serial}@contoso.test`;
    const answer = await startAnswer({ company: String(companyId), provider: "oidc", via: "graph", format: "link" });
    const link = ((await answer.json()) as { link: string }).link;
    expect(new URL(link).searchParams.get("via")).toBe("graph");
    const browser = appBrowser({ start: oauthStartEndpoint(endpointOptions()), callback: oauthCallbackEndpoint(endpointOptions()) });

    const page = await (await browser.open(link)).text();
    const toProvider = await browser.open(formOf(page, link).action, {});
    const back = await consentAs(authorizationServer, toProvider.headers.get("location")!, address);
    const confirmation = await (await browser.open(back)).text();
    const form = formOf(confirmation, back);
    const saved = await browser.open(form.action, { ...form.fields, action: "confirm" });

    expect(saved.status).toBe(200);
    expect(await integrationsOf(companyId)).toMatchObject([{ emailAddress: address, mailTransport: "graph", mailTransportReason: null }]);
  });

  it("refuses a signed link whose via was removed, added or changed after signing, and starts nothing", async () => {
    const companyId = String(await seedCompany(database.db));
    const graphLink = new URL(((await (await startAnswer({ company: companyId, provider: "oidc", via: "graph", format: "link" })).json()) as { link: string }).link);
    const imapLink = new URL(((await (await startAnswer({ company: companyId, provider: "oidc", format: "link" })).json()) as { link: string }).link);
    const removed = new URL(graphLink);
    removed.searchParams.delete("via");
    const added = new URL(imapLink);
    added.searchParams.set("via", "graph");
    const changed = new URL(graphLink);
    changed.searchParams.set("via", "imap");
    const before = await database.db.$count(oauthAuthorizationRequests);

    for (const forged of [removed, added, changed]) {
      const browser = appBrowser({ start: oauthStartEndpoint(endpointOptions()), callback: oauthCallbackEndpoint(endpointOptions()) });
      const opened = await browser.open(forged.href);
      expect(opened.status).toBe(403);
      expect(await browser.open(forged.href, {})).toMatchObject({ status: 403 });
    }
    expect(await database.db.$count(oauthAuthorizationRequests)).toBe(before);
  });

  it("refuses a CLI --via that is not a transport, and starts nothing", async () => {
    const companyId = await seedCompany(database.db);

    const refused = await runCli(["integrations", "connect", "--provider", "oidc", "--company", String(companyId), "--via", "pop3", "--paste"], env);

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--via must be one of imap, graph");
    expect(refused.stdout).toBe("");
    expect(await integrationsOf(companyId)).toEqual([]);
  });
});
