// `lokario-cron integrations connect` on the real binary, against the test authorization server:
// with the loopback listener (RFC 8252) and with the redirect URL pasted on standard input.

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { consentAs } from "../support/authorization-server.js";
import { testEnv } from "../support/config.js";
import { createTestDatabase, type TestDatabase } from "../support/databases.js";
import { createMailbox } from "../support/mailbox.js";
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
  let database: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase("pg");
    env = testEnv(database, {
      OIDC_ISSUER: authorizationServer.issuer,
      OIDC_CLIENT_ID: authorizationServer.clientId,
      OIDC_CLIENT_SECRET: authorizationServer.clientSecret,
      OIDC_IMAP_HOST: "127.0.0.1",
      OIDC_IMAP_PORT: String(dovecot.tlsPort),
      OIDC_TLS_REJECT_UNAUTHORIZED: "false",
    });
  });
  afterAll(async () => {
    await database.drop();
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
});
