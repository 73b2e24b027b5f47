// Shared mailboxes (Microsoft 365's `contact@`) end to end: a member consents with their own account
// and the shared mailbox is connected, synced through Dovecot and sent from through the SMTP server,
// both with XOAUTH2 as the shared address and the member's token (the authorization server gives the
// member access to the mailbox, as Exchange's Full Access does). Then the member losing access, and
// another member reconnecting it; and the attacks on the mailbox the flow is for.

import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { decryptSecret } from "../../lib/crypto/secret-box.js";
import { conversations, inboxIntegrations, inboxMessages, notifications } from "../../lib/db/schema.js";
import { OAUTH_START_PATH, oauthCallbackEndpoint, oauthStartEndpoint } from "../../lib/oauth/oauth-endpoints.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { JOBS } from "../../lib/app/job-registry.js";
import { readCronStatus } from "../../lib/ops/cron-status.js";
import { readMailboxState } from "../../lib/ops/mailbox-state.js";
import { whyNotSynced } from "../../lib/ops/page/explain-mailbox.js";
import { describeMailboxState } from "../../server/cli/describe-mailbox.js";
import { consentAs, grantMailboxAccess, oidcEnv, revokeToken } from "../support/authorization-server.js";
import { TEST_CRON_SECRET, TEST_ENCRYPTION_KEY, testConfig, testEnv } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { createMailbox, rawMail, type TestMailbox } from "../support/mailbox.js";
import { useSmtpServer } from "../support/smtp.js";
import { runCli } from "../endpoints/run-cli.js";
import { runFollowups, seedCompany, seedInvoiceFollowup } from "../followups/seed.js";
import { appBrowser, formOf } from "./app-browser.js";

const HOUR_MS = 3_600_000;
const FIRST_DAY = new Date("2026-03-09T09:00:00Z");
const keys = { encryptionKey: TEST_ENCRYPTION_KEY };

describe("shared mailboxes over OAuth2", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  const smtp = useSmtpServer();
  let env: Record<string, string>;
  let config: Config;
  let clockMs: number;
  const now = () => new Date(clockMs);
  const log = createLogger("test", { level: "silent" });

  beforeAll(() => {
    smtp.requireOAuth2(authorizationServer);
    env = testEnv(database, {
      ...oidcEnv(),
      OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri,
      OIDC_IMAP_SSL: "true",
      OIDC_SMTP_HOST: "127.0.0.1",
      OIDC_SMTP_PORT: String(smtp.port),
      OIDC_SMTP_SECURE: "false",
      SMTP_TIMEOUT_MS: "3000",
    });
    config = testConfig(database, env);
  });

  /** A shared mailbox and a member (`alice`) given access to it; the member's own INBOX has mail too. */
  const sharedMailboxWithMember = async () => {
    const [shared, alice] = [await createMailbox(), await createMailbox()];
    await grantMailboxAccess(authorizationServer, alice.user, shared.user);
    await alice.append(rawMail({ subject: "Personnel : pas pour l'entreprise" }));
    return { shared, alice };
  };
  /** Connects `mailbox` to `companyId` with `member`'s consent, through the library (as the CLI does). */
  const connectShared = async (companyId: number, mailbox: TestMailbox, member: TestMailbox) => {
    const start = await startAuthorization(database.db, config, {
      companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, mailboxAddress: mailbox.user, now: now(),
    });
    return completeAuthorization(database.db, config, await consentAs(authorizationServer, start.url, member.user), now());
  };
  const signedLink = async (companyId: number, mailbox?: string) => {
    const query = new URLSearchParams({ company: String(companyId), provider: "oidc", format: "link", ...(mailbox ? { mailbox } : {}) });
    const answer = await oauthStartEndpoint(endpointOptions())(new Request(`https://app.test${OAUTH_START_PATH}?${query}`, {
      headers: { authorization: `Bearer ${TEST_CRON_SECRET}` },
    }));
    expect(answer.status).toBe(200);
    return ((await answer.json()) as { link: string }).link;
  };
  const endpointOptions = () => ({ env: () => env, db: database.db, now });
  const newBrowser = () => appBrowser({ start: oauthStartEndpoint(endpointOptions()), callback: oauthCallbackEndpoint(endpointOptions()) });
  const integrationRow = async (id: number) => (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;
  const integrationsOf = (companyId: number) => database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));
  const subjectsOf = async (integrationId: number) =>
    (await database.db
      .select({ subject: conversations.subject })
      .from(inboxMessages)
      .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
      .where(eq(inboxMessages.integrationId, integrationId)))
      .map((m) => m.subject).sort();
  const sync = () => runJob(syncAllJob, {}, { config, log, trigger: "test", now });

  it("connects a shared mailbox from a signed link naming it, shows the mailbox and the consenting account before saving, and syncs the shared mailbox's mail, not the member's", async () => {
    clockMs = Date.now();
    const { shared, alice } = await sharedMailboxWithMember();
    await shared.append(rawMail({ subject: "Demande de devis" }));
    const companyId = await seedCompany(database.db, undefined, "Plomberie Martin");
    const browser = newBrowser();
    const link = await signedLink(companyId, shared.user.toUpperCase());

    const linkHtml = await (await browser.open(link)).text();
    expect(linkHtml).toContain(shared.user);
    expect(linkHtml).toContain("boîte partagée");
    const toProvider = await browser.open(formOf(linkHtml, link).action, {});
    expect(toProvider.status).toBe(303);
    const back = await consentAs(authorizationServer, toProvider.headers.get("location")!, alice.user);
    const confirmationHtml = await (await browser.open(back)).text();
    expect(confirmationHtml).toContain(`<dt>Boîte partagée</dt><dd>${shared.user}</dd>`);
    expect(confirmationHtml).toContain(`<dt>Ouverte avec le compte</dt><dd>${alice.user}</dd>`);
    expect(await integrationsOf(companyId)).toEqual([]);
    const form = formOf(confirmationHtml, back);
    const saved = await browser.open(form.action, { ...form.fields, action: "confirm" });

    expect(saved.status).toBe(200);
    const [row] = await integrationsOf(companyId);
    expect(row).toMatchObject({ authMethod: "oauth2", emailAddress: shared.user, oauthConsentingAccount: alice.user, imapUsername: null, emailPassword: null });
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 1 });
    expect(await subjectsOf(row!.id)).toEqual(["Demande de devis"]);
  });

  it("sends a follow-up from the shared address, logging in to SMTP with XOAUTH2 as the shared mailbox with the member's token", async () => {
    clockMs = FIRST_DAY.getTime();
    const { shared, alice } = await sharedMailboxWithMember();
    const seeded = await seedInvoiceFollowup(database.db);
    await connectShared(seeded.companyId, shared, alice);

    const run = await runFollowups(config, FIRST_DAY);

    expect(run).toMatchObject({ sent: 1, failed: 0 });
    const [received] = smtp.receivedBy(seeded.clientEmail);
    expect(received?.envelope.from).toBe(shared.user);
    expect(smtp.oauth2Logins).toContain(shared.user);
    expect(smtp.oauth2Logins).not.toContain(alice.user);
  });

  it("needs reconnection, naming the shared mailbox and the consenting account, when the member's consent is revoked; another member reconnects it with its history and no duplicate", async () => {
    clockMs = Date.now();
    const { shared, alice } = await sharedMailboxWithMember();
    const bob = await createMailbox();
    await grantMailboxAccess(authorizationServer, bob.user, shared.user);
    await shared.append(rawMail({ subject: "Avant la révocation" }));
    const companyId = await seedCompany(database.db);
    const { integrationId } = await connectShared(companyId, shared, alice);
    expect(await sync()).toMatchObject({ messagesImported: 1 });
    await revokeToken(authorizationServer, decryptSecret((await integrationRow(integrationId)).oauthRefreshToken!, keys));
    clockMs += 2 * HOUR_MS;

    expect(await sync()).toMatchObject({ integrations: { attempted: 1, failed: 1 } });

    const row = await integrationRow(integrationId);
    expect(row.oauthReconnectNeededAt).not.toBeNull();
    const [alert] = await database.db.select().from(notifications).where(eq(notifications.companyId, companyId));
    expect(alert?.message).toContain(`boîte partagée ${shared.user}`);
    expect(alert?.message).toContain(`compte ${alice.user}`);
    const reconnect = `lokario-cron integrations connect --provider oidc --company ${companyId} --mailbox ${shared.user}`;
    const status = await readCronStatus(database.db, { config, log, now }, JOBS);
    expect(status.failingIntegrations.find((i) => i.id === integrationId)?.fixCommands).toEqual([reconnect]);
    const found = (await readMailboxState(database.db, integrationId, now()))!;
    expect(found.state.code).toBe("reconnect-needed");
    expect(whyNotSynced(found.row, found.state)).toContain(`boîte partagée ${shared.user} donné par le compte ${alice.user}`);
    expect(whyNotSynced(found.row, found.state)).toContain(reconnect);
    expect(describeMailboxState(found.row, found.state, now())).toContain(`${alice.user}'s access to the shared mailbox ${shared.user}`);
    expect(describeMailboxState(found.row, found.state, now())).toContain(reconnect);
    const listed = await runCli(["integrations", "list", "--company", String(companyId)], env);
    expect(listed.stdout).toContain(`shared mailbox opened with ${alice.user}'s consent`);
    expect(listed.stdout).toContain(reconnect);

    await shared.append(rawMail({ subject: "Après la reconnexion" }));
    const again = await connectShared(companyId, shared, bob);

    expect(again).toMatchObject({ integrationId, isNew: false, consentingAccount: bob.user });
    expect(await integrationsOf(companyId)).toMatchObject([{ id: integrationId, oauthConsentingAccount: bob.user, oauthReconnectNeededAt: null }]);
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 1 });
    expect(await subjectsOf(integrationId)).toEqual(["Après la reconnexion", "Avant la révocation"]);
  });

  it("needs reconnection, naming both, when the mail server stops accepting the member for the shared mailbox (access removed) though the member's grant is alive", async () => {
    clockMs = Date.now();
    const { shared, alice } = await sharedMailboxWithMember();
    const companyId = await seedCompany(database.db);
    const { integrationId } = await connectShared(companyId, shared, alice);
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 } });
    await grantMailboxAccess(authorizationServer, alice.user, undefined);
    clockMs += HOUR_MS;

    expect(await sync()).toMatchObject({ integrations: { attempted: 1, failed: 1 } });

    const found = (await readMailboxState(database.db, integrationId, now()))!;
    expect(found.state.code).toBe("reconnect-needed");
    expect(whyNotSynced(found.row, found.state)).toContain(`boîte partagée ${shared.user} donné par le compte ${alice.user}`);
    clockMs += 24 * HOUR_MS;
    expect(await sync()).toMatchObject({ integrations: { attempted: 0 } });
  });

  it("refuses a signed link whose mailbox was changed, added or removed after it was signed, and starts nothing", async () => {
    clockMs = Date.now();
    const { shared } = await sharedMailboxWithMember();
    const other = await createMailbox();
    const companyId = await seedCompany(database.db);
    const forShared = new URL(await signedLink(companyId, shared.user));
    const forOwn = new URL(await signedLink(companyId));
    const tampered = [
      (() => { const u = new URL(forShared); u.searchParams.set("mailbox", other.user); return u; })(),
      (() => { const u = new URL(forShared); u.searchParams.delete("mailbox"); return u; })(),
      (() => { const u = new URL(forOwn); u.searchParams.set("mailbox", shared.user); return u; })(),
    ];

    for (const link of tampered) {
      const browser = newBrowser();
      const page = await browser.open(link);
      expect(page.status).toBe(403);
      expect(await page.text()).toContain("Lien invalide");
      expect((await browser.open(link, {})).status).toBe(403);
      expect(browser.cookies.size).toBe(0);
    }
    expect((await newBrowser().open(forShared)).status).toBe(200);
  });

  it("keeps another company's flow for the same shared address away from this company's integration", async () => {
    clockMs = Date.now();
    const { shared, alice } = await sharedMailboxWithMember();
    const mallory = await createMailbox();
    const [victim, attacker] = [await seedCompany(database.db), await seedCompany(database.db)];
    const { integrationId } = await connectShared(victim, shared, alice);
    const before = await integrationRow(integrationId);
    const attackerLink = new URL(await signedLink(attacker, shared.user));
    const retargeted = new URL(attackerLink);
    retargeted.searchParams.set("company", String(victim));

    expect((await newBrowser().open(retargeted)).status).toBe(403);
    const browser = newBrowser();
    const toProvider = await browser.open(formOf(await (await browser.open(attackerLink)).text(), attackerLink).action, {});
    const back = await consentAs(authorizationServer, toProvider.headers.get("location")!, mallory.user);
    const confirmationHtml = await (await browser.open(back)).text();
    const form = formOf(confirmationHtml, back);
    expect((await browser.open(form.action, { ...form.fields, action: "confirm" })).status).toBe(200);

    const after = await integrationRow(integrationId);
    expect(after).toMatchObject({ companyId: victim, oauthConsentingAccount: alice.user, oauthRefreshToken: before.oauthRefreshToken, updatedAt: before.updatedAt });
    expect(await integrationsOf(attacker)).toMatchObject([{ emailAddress: shared.user, oauthConsentingAccount: mallory.user }]);
    expect((await integrationsOf(attacker))[0]!.id).not.toBe(integrationId);
  });

  it("refuses to start a flow for a mailbox parameter that is not an address", async () => {
    const companyId = await seedCompany(database.db);
    const answer = await oauthStartEndpoint(endpointOptions())(new Request(
      `https://app.test${OAUTH_START_PATH}?company=${companyId}&provider=oidc&format=link&mailbox=${encodeURIComponent("contact@x.test\r\nBcc: a@b.test")}`,
      { headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } },
    ));
    expect(answer.status).toBe(400);
  });
});
