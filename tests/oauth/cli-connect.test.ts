// `lokario-cron integrations connect` on the real binary, against the test authorization server:
// with the loopback listener (RFC 8252) and with the redirect URL pasted on standard input; and
// `integrations test` on the mailbox it connected, logging in to Dovecot with XOAUTH2.

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { decryptSecret } from "../../lib/crypto/secret-box.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { completeAuthorization } from "../../lib/oauth/complete-authorization.js";
import { startAuthorization } from "../../lib/oauth/start-authorization.js";
import { consentAs, revokeToken, oidcEnv } from "../support/authorization-server.js";
import { TEST_ENCRYPTION_KEY, testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox } from "../support/mailbox.js";
import { runCli } from "../endpoints/run-cli.js";
import { seedCompany } from "../followups/seed.js";
import { CLI_BIN, cliPath } from "../endpoints/run-cli.js";


/** The running command: the URL it printed, what to type into it, and how it ended. */
interface RunningConnect {
  url: Promise<string>;
  type(text: string): void;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function startConnect(args: string[], env: Record<string, string>): RunningConnect {
  const child = spawn(CLI_BIN, ["integrations", "connect", ...args], {
    cwd: mkdtempSync(join(tmpdir(), "lokario-cli-")),
    env: { PATH: cliPath(), HOME: process.env.HOME, ...env },
    stdio: ["pipe", "pipe", "pipe"],
    timeout: 60_000,
  });
  let stdout = "";
  let stderr = "";
  let printed: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => (printed = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
    const line = /^(http\S+)$/m.exec(stdout)?.[1];
    if (line) printed(line);
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { url, type: (text) => child.stdin.write(text), done };
}

describe("integrations connect (CLI)", () => {
  const authorizationServer = inject("authorizationServer");
  const dovecot = inject("dovecot");
  const database = useDatabase("pg");
  let env: Record<string, string>;

  beforeAll(async () => {
    env = testEnv(database, {
      ...oidcEnv(),
    });
  });

  const integrationsOf = (companyId: number) =>
    database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));

  it("connects a mailbox when the provider redirects to its loopback listener", async () => {
    const mailbox = await createMailbox();
    const companyId = await seedCompany(database.db);
    const command = startConnect(["--provider", "oidc", "--company", String(companyId)], env);

    const back = await consentAs(authorizationServer, await command.url, mailbox.user);
    expect(back.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const browser = await fetch(back);
    const result = await command.done;

    expect(browser.status).toBe(200);
    expect(result.code).toBe(0);
    expect(await integrationsOf(companyId)).toMatchObject([{ authMethod: "oauth2", emailAddress: mailbox.user }]);
  });

  it("connects a mailbox from the redirect URL pasted on standard input", async () => {
    const mailbox = await createMailbox();
    const companyId = await seedCompany(database.db);
    const command = startConnect(["--provider", "oidc", "--company", String(companyId), "--paste", "--json"], env);

    const back = await consentAs(authorizationServer, await command.url, mailbox.user);
    command.type(`${back.href}\n`);
    const result = await command.done;

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.slice(result.stdout.indexOf("{")))).toMatchObject({ companyId, emailAddress: mailbox.user, isNew: true });
    expect(await integrationsOf(companyId)).toMatchObject([{ authMethod: "oauth2", emailAddress: mailbox.user, oauthProvider: "oidc" }]);
  });

  it("connects a shared mailbox given with --mailbox, consented to by a member with their own account", async () => {
    const [shared, member] = [await createMailbox(), await createMailbox()];
    const companyId = await seedCompany(database.db);
    const command = startConnect(["--provider", "oidc", "--company", String(companyId), "--mailbox", shared.user, "--paste", "--json"], env);

    const back = await consentAs(authorizationServer, await command.url, member.user);
    command.type(`${back.href}\n`);
    const result = await command.done;

    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`access to the shared mailbox ${shared.user}`);
    expect(JSON.parse(result.stdout.slice(result.stdout.indexOf("{")))).toMatchObject({ companyId, emailAddress: shared.user, consentingAccount: member.user });
    expect(await integrationsOf(companyId)).toMatchObject([{ emailAddress: shared.user, oauthConsentingAccount: member.user }]);
  });

  it("connects a mailbox read and sent through Microsoft Graph with --via graph", async () => {
    const mailbox = await createMailbox();
    const companyId = await seedCompany(database.db);
    const command = startConnect(["--provider", "oidc", "--company", String(companyId), "--via", "graph", "--paste"], env);

    const back = await consentAs(authorizationServer, await command.url, mailbox.user);
    command.type(`${back.href}\n`);
    const result = await command.done;

    expect(result.code).toBe(0);
    expect(result.stdout).toContain("through Microsoft Graph");
    expect(await integrationsOf(companyId)).toMatchObject([{ emailAddress: mailbox.user, mailTransport: "graph", mailTransportReason: null }]);
  });

  it("refuses a --mailbox that is not an address, and starts nothing", async () => {
    const companyId = await seedCompany(database.db);

    const result = await runCli(["integrations", "connect", "--provider", "oidc", "--company", String(companyId), "--mailbox", "contact", "--paste"], env);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--mailbox must be an email address");
    expect(result.stdout).toBe("");
  });

  /** A mailbox connected with OAuth2 through the library (the flow the CLI and the endpoints share). */
  const connectedMailbox = async () => {
    const mailbox = await createMailbox();
    const companyId = await seedCompany(database.db);
    const config = testConfig(database, env);
    const start = await startAuthorization(database.db, config, { companyId, provider: "oidc", redirectUri: authorizationServer.webRedirectUri, now: new Date() });
    const back = await consentAs(authorizationServer, start.url, mailbox.user);
    const { integrationId } = await completeAuthorization(database.db, config, back, new Date());
    return { mailbox, integrationId };
  };
  const accessTokenOf = async (integrationId: number) => {
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    return decryptSecret(row!.oauthAccessToken!, { encryptionKey: TEST_ENCRYPTION_KEY });
  };

  it("tests an OAuth2 mailbox by logging in to Dovecot with XOAUTH2, as the sync does", async () => {
    const { mailbox, integrationId } = await connectedMailbox();

    const result = await runCli(["integrations", "test", String(integrationId)], env);

    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`connected to 127.0.0.1:${dovecot.tlsPort} (implicit TLS) as ${mailbox.user} (OAuth2)`);
    expect(result.stdout).toMatch(/INBOX: 0 messages \(0 unseen\), UIDVALIDITY \d+/);
  });

  it("refreshes an OAuth2 mailbox's expired access token before testing it, and keeps the new one", async () => {
    const { integrationId } = await connectedMailbox();
    const before = await accessTokenOf(integrationId);
    await database.db.update(inboxIntegrations).set({ oauthAccessTokenExpiresAt: new Date(Date.now() - 60_000) }).where(eq(inboxIntegrations.id, integrationId));

    const result = await runCli(["integrations", "test", String(integrationId), "--json"], env);

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ success: true, integrationId, authMethod: "oauth2" });
    expect(await accessTokenOf(integrationId)).not.toBe(before);
  });

  it("says an OAuth2 mailbox whose access was revoked must be connected again, with no empty imapflow log line", async () => {
    const { integrationId } = await connectedMailbox();
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    await revokeToken(authorizationServer, decryptSecret(row!.oauthRefreshToken!, { encryptionKey: TEST_ENCRYPTION_KEY }));

    const result = await runCli(["integrations", "test", String(integrationId), "--json"], { ...env, LOG_LEVEL: "warn" });

    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ success: false, kind: "auth", error: expect.stringContaining("connect it again") });
    const logLines = result.stderr.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { msg: string });
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(line.msg).not.toMatch(/^imapflow:\s*$/);
  });
});
