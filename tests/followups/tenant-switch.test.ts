// A Microsoft 365 tenant that turned SMTP AUTH off answers the mailbox's valid XOAUTH2 login with
// `535 5.7.139`: the mailbox switches to Microsoft Graph by itself, with the reason recorded, and its
// follow-ups then leave through Graph. The SMTP server is the tests' smtp-server answering Microsoft's
// exact reply; the Graph server the local one.

import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { imapTenantRefusal, MAIL_TRANSPORT_REASON_LABELS } from "../../lib/mail/switch-to-graph.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { consentAs, oidcEnv } from "../support/authorization-server.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { startGraphServer, type TestGraphServer } from "../support/graph-server.js";
import { useSmtpServer } from "../support/smtp.js";
import { attemptsOf, runFollowups, seedInvoiceFollowup } from "./seed.js";

/** Microsoft's reply to a login when SMTP AUTH is off for the tenant, word for word. */
const TENANT_SMTP_AUTH_DISABLED =
  "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.";
const FIRST_DAY = new Date("2026-03-09T09:00:00Z");
const NEXT_DAY = new Date("2026-03-10T09:00:00Z");
let serial = 0;

describe("a Microsoft mailbox whose tenant refuses SMTP AUTH", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  const smtp = useSmtpServer();
  let graph: TestGraphServer;
  let config: Config;

  beforeAll(async () => {
    graph = await startGraphServer({ authorizationServer });
    smtp.requireOAuth2(authorizationServer);
    config = testConfig(database, {
      ...oidcEnv(), OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri, MICROSOFT_GRAPH_BASE_URL: graph.baseUrl,
      OIDC_SMTP_HOST: "127.0.0.1", OIDC_SMTP_PORT: String(smtp.port), OIDC_SMTP_SECURE: "false", SMTP_TIMEOUT_MS: "3000",
    });
  });
  afterEach(() => smtp.refuseLogins(undefined));
  afterAll(async () => {
    await graph.close();
  });

  /**
   * A company sending from its own mailbox over SMTP with XOAUTH2. The row says Microsoft, as a
   * mailbox connected with --provider microsoft does; its token is the tests' authorization server's
   * (the cached one is used, so Microsoft's token endpoint is never called).
   */
  const microsoftMailbox = async () => {
    const address = `owner-${process.pid}-${++serial}@contoso.test`;
    graph.addMailbox(address);
    const seeded = await seedInvoiceFollowup(database.db);
    const start = await startAuthorization(database.db, config, { companyId: seeded.companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, now: FIRST_DAY });
    const saved = await completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, address), FIRST_DAY);
    await database.db.update(inboxIntegrations).set({ oauthProvider: "microsoft" }).where(eq(inboxIntegrations.id, saved.integrationId));
    return { ...seeded, address, integrationId: saved.integrationId };
  };
  const rowOf = async (id: number) => (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;

  it("switches the mailbox to Graph with the reason recorded on `535 5.7.139 … SmtpClientAuthentication is disabled for the Tenant`, and the next run sends through Graph, once", async () => {
    const seeded = await microsoftMailbox();
    smtp.refuseLogins(TENANT_SMTP_AUTH_DISABLED);

    const refused = await runFollowups(config, FIRST_DAY);

    expect(refused).toMatchObject({ sent: 0, failed: 1, failures: [expect.objectContaining({ kind: "auth" })] });
    expect(await attemptsOf(database.db, seeded.followupId)).toEqual([]);
    expect(await rowOf(seeded.integrationId)).toMatchObject({
      mailTransport: "graph", mailTransportReason: "smtp_auth_disabled_for_tenant", oauthAccessToken: null, oauthReconnectNeededAt: null,
    });
    expect(MAIL_TRANSPORT_REASON_LABELS.smtp_auth_disabled_for_tenant).toContain("Microsoft Graph");

    // The tests' authorization server stands in for Microsoft's token endpoint from here on: it
    // issues the token for Graph that the switch made necessary.
    await database.db.update(inboxIntegrations).set({ oauthProvider: "oidc" }).where(eq(inboxIntegrations.id, seeded.integrationId));
    const next = await runFollowups(config, NEXT_DAY);

    expect(next).toMatchObject({ sent: 1, failed: 0 });
    expect(graph.sent.filter((mail) => mail.mailbox === seeded.address)).toHaveLength(1);
    expect(smtp.receivedBy(seeded.clientEmail)).toEqual([]);
  });

  it("switches on Microsoft's `535 5.7.3 Authentication unsuccessful` too", async () => {
    const seeded = await microsoftMailbox();
    smtp.refuseLogins("5.7.3 Authentication unsuccessful [AM0PR02CA0001.eurprd02.prod.outlook.com]");

    await runFollowups(config, FIRST_DAY);

    expect(await rowOf(seeded.integrationId)).toMatchObject({ mailTransport: "graph", mailTransportReason: "smtp_auth_disabled_for_tenant" });
  });

  it("keeps SMTP for a login refused for bad credentials (a plain 535), and for a mailbox of another provider refused as a tenant would", async () => {
    const microsoft = await microsoftMailbox();
    smtp.refuseLogins("5.7.8 Error: authentication failed: Invalid user or password");
    await runFollowups(config, FIRST_DAY);
    expect(await rowOf(microsoft.integrationId)).toMatchObject({ mailTransport: "imap", mailTransportReason: null });
    await database.db.update(inboxIntegrations).set({ isActive: false }).where(eq(inboxIntegrations.id, microsoft.integrationId));

    const other = await microsoftMailbox();
    await database.db.update(inboxIntegrations).set({ oauthProvider: "oidc" }).where(eq(inboxIntegrations.id, other.integrationId));
    smtp.refuseLogins(TENANT_SMTP_AUTH_DISABLED);
    await runFollowups(config, FIRST_DAY);

    expect(await rowOf(other.integrationId)).toMatchObject({ mailTransport: "imap", mailTransportReason: null });
  });
});

describe("IMAP refusals that mean the tenant turned IMAP off", () => {
  it("recognizes Exchange Online's answers to a valid token, through the login error's cause, and nothing else", () => {
    const refusal = (responseText: string) => Object.assign(new Error("IMAP login refused"), { cause: { authenticationFailed: true, responseText } });

    expect(imapTenantRefusal(refusal("AUTHENTICATE failed."))).toBe("imap_disabled_for_tenant");
    expect(imapTenantRefusal(refusal("User is authenticated but not connected."))).toBe("imap_disabled_for_tenant");
    expect(imapTenantRefusal(refusal("[AUTHENTICATIONFAILED] Authentication failed."))).toBeUndefined();
  });
});
