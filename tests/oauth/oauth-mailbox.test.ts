// OAuth2 mailboxes end to end against a real authorization server (oidc-provider): connecting through
// the endpoints, syncing through Dovecot with XOAUTH2, sending a follow-up through XOAUTH2 SMTP, and
// the token's life (expiry, rotation under concurrent runs, revocation), on each database driver.

import { JOBS } from "../../lib/app/job-registry.js";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { decryptSecret } from "../../lib/crypto/secret-box.js";
import { conversations, inboxIntegrations, inboxMessages, notifications } from "../../lib/db/schema.js";
import { OAUTH_START_PATH, oauthCallbackEndpoint, oauthStartEndpoint } from "../../lib/oauth/oauth-endpoints.js";
import { removeIntegration } from "../../lib/inbox/remove-integration.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { accessTokenFor } from "../../lib/oauth/access-token.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { readCronStatus } from "../../lib/ops/cron-status.js";
import { attachmentStorageFor } from "../../lib/storage/attachment-storage.js";
import { consentAs, isTokenActive, oidcEnv, revokeToken } from "../support/authorization-server.js";
import { TEST_CRON_SECRET, TEST_ENCRYPTION_KEY, testConfig, testEnv } from "../support/config.js";
import { deactivateIntegrations, DRIVERS, useDatabase } from "../support/databases.js";
import { createMailbox, rawMail } from "../support/mailbox.js";
import { useSmtpServer } from "../support/smtp.js";
import { runFollowups, seedCompany, seedInvoiceFollowup } from "../followups/seed.js";
import { appBrowser, formOf } from "./app-browser.js";

const HOUR_MS = 3_600_000;
const FIRST_DAY = new Date("2026-03-09T09:00:00Z");
const keys = { encryptionKey: TEST_ENCRYPTION_KEY };

describe.each(DRIVERS)("OAuth2 mailboxes (%s)", (driver) => {
  const authorizationServer = inject("authorizationServer");
  const dovecot = inject("dovecot");
  const database = useDatabase(driver, { afterEach: deactivateIntegrations });
  const smtp = useSmtpServer();
  let env: Record<string, string>;
  let config: Config;
  let clockMs: number;
  const now = () => new Date(clockMs);
  const log = createLogger("test", { level: "silent" });

  beforeAll(async () => {
    smtp.requireOAuth2(authorizationServer);
    env = testEnv(database, {
      OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri,
      ...oidcEnv(),
      OIDC_IMAP_SSL: "true",
      OIDC_SMTP_HOST: "127.0.0.1",
      OIDC_SMTP_PORT: String(smtp.port),
      OIDC_SMTP_SECURE: "false",
      SMTP_TIMEOUT_MS: "3000",
    });
    config = testConfig(database, env);
  });

  /** Connects `user`'s mailbox to `companyId` through the library, as the CLI and endpoints do. */
  const connect = async (companyId: number, user: string) => {
    const start = await startAuthorization(database.db, config, { companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, now: now() });
    const back = await consentAs(authorizationServer, start.url, user);
    return completeAuthorization(database.db, config, back, now());
  };
  const integrationsOf = (companyId: number) => database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));
  const integrationRow = async (id: number) =>
    (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;
  const sync = () => runJob(syncAllJob, {}, { config, log, trigger: "test", now });

  it("connects a mailbox from a signed link: a page names the company, then the provider's consent, then a confirmation naming the company and the address, and only then saves it", async () => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    const companyId = await seedCompany(database.db, undefined, "Plomberie Martin");
    const options = { env: () => env, db: database.db, now };
    const browser = appBrowser({ start: oauthStartEndpoint(options), callback: oauthCallbackEndpoint(options) });
    const linkAnswer = await oauthStartEndpoint(options)(new Request(`https://app.test${OAUTH_START_PATH}?company=${companyId}&provider=oidc&format=link`, {
      headers: { authorization: `Bearer ${TEST_CRON_SECRET}` },
    }));
    const { link } = (await linkAnswer.json()) as { link: string };

    const linkPage = await browser.open(link);
    expect(linkPage.status).toBe(200);
    const linkHtml = await linkPage.text();
    expect(linkHtml).toContain("Plomberie Martin");
    const toProvider = await browser.open(formOf(linkHtml, link).action, {});
    expect(toProvider.status).toBe(303);
    expect(toProvider.headers.get("location")).toMatch(new RegExp(`^${authorizationServer.issuer}/`));
    const back = await consentAs(authorizationServer, toProvider.headers.get("location")!, mailbox.user);

    const confirmation = await browser.open(back);
    expect(confirmation.status).toBe(200);
    const confirmationHtml = await confirmation.text();
    expect(confirmationHtml).toContain("Plomberie Martin");
    expect(confirmationHtml).toContain(mailbox.user);
    expect(await integrationsOf(companyId)).toEqual([]);
    // The state works once: the same redirect again, even in the same browser, is refused.
    expect((await browser.open(back)).status).toBe(400);

    const saved = await browser.open(formOf(confirmationHtml, back).action, { ...formOf(confirmationHtml, back).fields, action: "confirm" });

    expect(saved.status).toBe(200);
    expect(await saved.text()).toContain("Boîte mail connectée");
    const [row] = await integrationsOf(companyId);
    expect(row).toMatchObject({
      companyId, authMethod: "oauth2", oauthProvider: "oidc", emailAddress: mailbox.user, emailPassword: null,
      imapServer: "127.0.0.1", imapPort: dovecot.tlsPort, smtpServer: "127.0.0.1", smtpPort: smtp.port, isPrimary: true,
    });
    expect(await isTokenActive(authorizationServer, decryptSecret(row!.oauthRefreshToken!, keys))).toBe(true);
    expect(browser.cookies.size).toBe(0);
  });

  it("syncs an OAuth2 mailbox through Dovecot, logging in with XOAUTH2", async () => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    await mailbox.appendAll([{ raw: rawMail({ subject: "Devis cuisine" }) }, { raw: rawMail({ subject: "Rendez-vous" }) }]);
    const { integrationId } = await connect(await seedCompany(database.db), mailbox.user);

    const run = await sync();

    expect(run).toMatchObject({ integrations: { attempted: 1, succeeded: 1, failed: 0 }, messagesImported: 2 });
    expect(await database.db.$count(inboxMessages, eq(inboxMessages.integrationId, integrationId))).toBe(2);
  });

  it("finds its mail already stored when a mailbox removed with its mail kept is connected again", async () => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    await mailbox.appendAll([{ raw: rawMail({ subject: "Devis toiture" }) }, { raw: rawMail({ subject: "Sans identifiant", messageId: null }) }]);
    const companyId = await seedCompany(database.db);
    const first = await connect(companyId, mailbox.user);
    expect(await sync()).toMatchObject({ messagesImported: 2 });
    await removeIntegration(database.db, first.integrationId, { shouldDeleteMail: false, storage: attachmentStorageFor(config, database.db) });

    const again = await connect(companyId, mailbox.user);
    clockMs += HOUR_MS;

    expect(again).toMatchObject({ isNew: true });
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });
    const stored = await database.db
      .select({ id: inboxMessages.id })
      .from(inboxMessages)
      .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
      .where(eq(conversations.companyId, companyId));
    expect(stored).toHaveLength(2);
  });

  it("sends a follow-up through the mailbox's SMTP server with XOAUTH2", async () => {
    clockMs = FIRST_DAY.getTime();
    const mailbox = await createMailbox();
    const seeded = await seedInvoiceFollowup(database.db);
    await connect(seeded.companyId, mailbox.user);

    const run = await runFollowups(config, FIRST_DAY);

    expect(run).toMatchObject({ sent: 1, failed: 0 });
    const [received] = smtp.receivedBy(seeded.clientEmail);
    expect(received?.envelope.from).toBe(mailbox.user);
    expect(smtp.oauth2Logins).toContain(mailbox.user);
  });

  it("refreshes an access token that expired since the last run, and logs in with the new one", async () => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    const { integrationId } = await connect(await seedCompany(database.db), mailbox.user);
    const before = await integrationRow(integrationId);

    clockMs += 2 * HOUR_MS;
    await mailbox.append(rawMail({ subject: "Après expiration" }));
    const run = await sync();

    expect(run).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 1 });
    const after = await integrationRow(integrationId);
    expect(decryptSecret(after.oauthAccessToken!, keys)).not.toBe(decryptSecret(before.oauthAccessToken!, keys));
    expect(after.oauthAccessTokenExpiresAt!.getTime()).toBeGreaterThan(clockMs);
    expect(after.oauthRefreshLeaseUntil).toBeNull();
  });

  it("keeps the latest rotated refresh token when two runs refresh at the same time, and both get a working token", async () => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    const { integrationId } = await connect(await seedCompany(database.db), mailbox.user);
    const first = decryptSecret((await integrationRow(integrationId)).oauthRefreshToken!, keys);
    clockMs += 2 * HOUR_MS;
    const deps = { db: database.db, config, now, log };

    const tokens = await Promise.all([accessTokenFor(integrationId, deps), accessTokenFor(integrationId, deps)]);

    for (const token of tokens) expect(await isTokenActive(authorizationServer, token)).toBe(true);
    const latest = decryptSecret((await integrationRow(integrationId)).oauthRefreshToken!, keys);
    expect(latest).not.toBe(first);
    expect(await isTokenActive(authorizationServer, latest)).toBe(true);
    clockMs += 2 * HOUR_MS;
    expect(await isTokenActive(authorizationServer, await accessTokenFor(integrationId, deps))).toBe(true);
  });

  it("marks a revoked mailbox as needing a new connection, alerts once, and does not retry it", async () => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    const companyId = await seedCompany(database.db);
    const { integrationId } = await connect(companyId, mailbox.user);
    await revokeToken(authorizationServer, decryptSecret((await integrationRow(integrationId)).oauthRefreshToken!, keys));

    const run = await sync();
    clockMs += 24 * HOUR_MS;
    const next = await sync();

    expect(run).toMatchObject({ integrations: { attempted: 1, failed: 1 } });
    expect(next).toMatchObject({ integrations: { attempted: 0 } });
    const row = await integrationRow(integrationId);
    expect(row.oauthReconnectNeededAt).not.toBeNull();
    expect(row.lastSyncStatus).toBe("error");
    const alerts = await database.db.select().from(notifications).where(eq(notifications.companyId, companyId));
    expect(alerts.map((a) => a.type)).toEqual(["inbox_reconnect_needed"]);
    const status = await readCronStatus(database.db, { config, log, now }, JOBS);
    expect(status.failingIntegrations.find((i) => i.id === integrationId)?.needsReconnectionSince).toEqual(row.oauthReconnectNeededAt);
  });
});
