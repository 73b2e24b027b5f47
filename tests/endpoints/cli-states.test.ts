// What the real `lokario-cron` binary tells an operator about a mailbox that cannot sync, a run
// that failed and a cron that stopped: why, and the command that fixes it, with an exit code a
// script can act on; counts and settings in words, not field names.

import { and, desc, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { companies, inboxIntegrations, jobRuns } from "../../lib/db/schema.js";
import { testEnv } from "../support/config.js";
import { createTestDatabase, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { runCli } from "./run-cli.js";

const HOUR_MS = 60 * 60 * 1000;

describe("lokario-cron on mailboxes that cannot sync, failed runs and a stopped cron", () => {
  const database = useDatabase("pg");
  let env: Record<string, string>;
  let companyId: number;

  beforeAll(async () => {
    env = testEnv(database, { LOG_LEVEL: "warn" });
    const [company] = await database.db.insert(companies).values({ name: "Plomberie Martin" }).returning();
    companyId = company!.id;
  });

  /** An OAuth2 mailbox whose grant Google refused, as the token refresh leaves it. */
  let owners = 0;
  async function mailboxWaitingForReconnection(): Promise<number> {
    const refusedAt = new Date(Date.now() - HOUR_MS);
    const [row] = await database.db.insert(inboxIntegrations).values({
      companyId, emailAddress: `gerant-${++owners}@plomberie-martin.fr`, imapServer: "imap.gmail.com", authMethod: "oauth2", oauthProvider: "google",
      oauthRefreshToken: "v1:unused", oauthReconnectNeededAt: refusedAt, lastSyncAt: refusedAt, lastSyncStatus: "error",
      lastSyncError: "google refused the mailbox's authorization (invalid_grant): connect it again", consecutiveFailures: 1,
      authFailures: 1, failingSince: refusedAt, nextSyncAt: new Date(refusedAt.getTime() + 30 * 60_000),
    }).returning();
    return row!.id;
  }
  const lastCliRun = async () =>
    (await database.db.select().from(jobRuns).where(and(eq(jobRuns.trigger, "cli"), eq(jobRuns.job, "inbox-sync"))).orderBy(desc(jobRuns.id)).limit(1))[0];

  it("refuses to sync a disabled mailbox with --integration, says why and how to turn it back on, and exits 1", async () => {
    const { integrationId } = await insertIntegration(database.db, await createMailbox(), { companyId, values: { isActive: false } });
    const result = await runCli(["sync", "--integration", String(integrationId)], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`integration ${integrationId} not synced: disabled`);
    expect(result.stderr).toContain(`lokario-cron integrations enable ${integrationId}`);
  });

  it("refuses to sync a mailbox waiting for reconnection, naming the connect command with its provider and company, and exits 1", async () => {
    const id = await mailboxWaitingForReconnection();
    const result = await runCli(["sync", "--integration", String(id)], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("needs reconnection");
    expect(result.stderr).toContain(`lokario-cron integrations connect --provider google --company ${companyId}`);
    expect(result.stderr).not.toContain("not an active IMAP integration");
  });

  it("records a CLI sync of a failing mailbox as a failed run, exits 1 and says what to do", async () => {
    const { integrationId } = await insertIntegration(database.db, await createMailbox(), { companyId, password: "not-the-password" });
    const result = await runCli(["sync", "--integration", String(integrationId)], env);
    expect(result.code).toBe(1);
    expect(await lastCliRun()).toMatchObject({ status: "error", error: expect.stringContaining("IMAP login refused") });
    expect(result.stderr).toContain(`integration ${integrationId} failed: login refused by the server`);
    expect(result.stderr).toContain(`lokario-cron integrations update ${integrationId} --password-stdin`);
  });

  it("records a run where one mailbox of two failed as partial", async () => {
    const fleet = await createTestDatabase("pg");
    try {
      const healthy = await createMailbox();
      await healthy.appendAll([{ raw: rawMail() }]);
      const { companyId: ownCompany } = await insertIntegration(fleet.db, healthy);
      await insertIntegration(fleet.db, await createMailbox(), { companyId: ownCompany, password: "not-the-password" });
      const result = await runCli(["sync"], testEnv(fleet, { LOG_LEVEL: "warn" }));
      expect(result.code).toBe(1);
      const [run] = await fleet.db.select().from(jobRuns).where(eq(jobRuns.trigger, "cli"));
      expect(run).toMatchObject({ status: "partial", error: expect.stringContaining("IMAP login refused") });
    } finally {
      await fleet.drop();
    }
  });

  it("lists each mailbox's login method, synced folders and state, with the command that fixes it", async () => {
    const reconnectId = await mailboxWaitingForReconnection();
    const { integrationId: inboxOnly } = await insertIntegration(database.db, await createMailbox(), { companyId, values: { syncedFolders: ["inbox"] } });
    const result = await runCli(["integrations", "list", "--company", String(companyId)], env);
    expect(result.code).toBe(0);
    const block = (id: number) => result.stdout.split(/\n(?=#)/).find((b) => b.startsWith(`#${id} `))!;
    expect(block(reconnectId)).toContain("login: OAuth2 (google); folders: INBOX and Sent");
    expect(block(reconnectId)).toContain("needs reconnection since");
    expect(block(reconnectId)).toContain(`lokario-cron integrations connect --provider google --company ${companyId}`);
    expect(block(reconnectId)).not.toMatch(/\bactive\b/);
    expect(block(inboxOnly)).toContain("login: password; folders: INBOX\n");
    expect(block(inboxOnly)).toContain("never synced yet");
  });

  it("keeps warning that the cron seems stopped after a run by hand, marks runs by hand, and gives the full connect command", async () => {
    await mailboxWaitingForReconnection();
    const startedAt = new Date(Date.now() - 3 * HOUR_MS);
    await database.db.insert(jobRuns).values({
      runId: "followups-pinged-3h-ago", job: "followups", trigger: "http", startedAt, finishedAt: startedAt, leaseUntil: startedAt, status: "success",
      summary: { sent: 0, failed: 0, remaining: false },
    });
    expect((await runCli(["followups", "run", "--dry-run"], env)).code).toBe(0);
    const result = await runCli(["status"], env);
    expect(result.code).toBe(0);
    const followups = result.stdout.slice(result.stdout.indexOf("followups:"), result.stdout.indexOf("Failing mailboxes"));
    expect(followups).toContain(`last scheduled run ${startedAt.toISOString()}`);
    expect(followups).toContain("WARNING: no scheduled run since");
    expect(followups).toContain("cli, by hand");
    expect(result.stdout).toContain(`fix: lokario-cron integrations connect --provider google --company ${companyId}`);
    const json = JSON.parse((await runCli(["status", "--json"], env)).stdout) as { jobs: Record<string, { isOverdue: boolean }> };
    expect(json.jobs.followups!.isOverdue).toBe(true);
  });

  it("names the settings an update changed in the command's words, not the database's", async () => {
    const { integrationId } = await insertIntegration(database.db, await createMailbox(), { companyId });
    const result = await runCli(["integrations", "update", String(integrationId), "--interval", "15", "--name", "Atelier"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Integration ${integrationId} updated: name (--name), sync interval (--interval).`);
    expect(result.stdout).not.toMatch(/syncIntervalMinutes|imapServer/);
  });

  it("counts in words: one message imported is '1 message'", async () => {
    const mailbox = await createMailbox();
    await mailbox.appendAll([{ raw: rawMail({ subject: "Une seule demande" }) }]);
    const { integrationId } = await insertIntegration(database.db, mailbox, { companyId });
    const result = await runCli(["sync", "--integration", String(integrationId), "--until-done"], env);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^run 1: 1 message imported, 1 in all, done\.$/m);
  });
});
