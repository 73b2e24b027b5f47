// The `lokario-cron` command as an operator runs it: a child process started from another
// directory, on a real PostgreSQL database, with the password on stdin.

import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import pg from "pg";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { decryptSecret } from "../../lib/crypto/secret-box.js";
import { openDb } from "../../lib/db/client.js";
import { isSchemaCurrent } from "../../lib/db/migrate.js";
import { companies, inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { MAIL_HOST_REFUSED } from "../../lib/mail/mail-host-guard.js";
import { TEST_ENCRYPTION_KEY, testEnv } from "../support/config.js";
import { createTestDatabase, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { runCli } from "./run-cli.js";

const MAILBOX_PASSWORD = "Pässword-of-the-mailbox-7d1e";

describe("lokario-cron", () => {
  const database = useDatabase("pg");
  let env: Record<string, string>;

  beforeAll(async () => {
    env = testEnv(database, { LOG_LEVEL: "warn" });
  });

  it("prints its usage with --help and exits 0", async () => {
    const result = await runCli(["--help"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("integrations add");
    expect(result.stdout).toContain("--password-env");
  });

  it.each([
    ["no command", []],
    ["an unknown command", ["deploy"]],
    ["an unknown option", ["sync", "--everything"]],
    ["a password on the command line", ["integrations", "add", "--company", "1", "--email", "a@b.fr", "--server", "h", "--password", "x"]],
    ["a missing required option", ["integrations", "add", "--email", "a@b.fr", "--server", "h"]],
    ["a non-numeric id", ["integrations", "test", "abc"]],
  ])("exits 2 with a usage message for %s", async (_, args) => {
    const result = await runCli(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/lokario-cron/);
    expect(result.stdout).toBe("");
  });

  it("migrates an empty database, and refuses other commands until it is migrated", async () => {
    const name = `t_empty_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${inject("postgresPort")}/postgres` });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const emptyEnv = { ...env, DATABASE_URL: `postgres://postgres@127.0.0.1:${inject("postgresPort")}/${name}` };

    const early = await runCli(["companies", "add", "Too early"], emptyEnv);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("run `lokario-cron migrate` first");

    const migrated = await runCli(["migrate"], emptyEnv);
    expect(migrated).toMatchObject({ code: 0, stdout: "Database migrated (pg).\n" });
    const opened = await openDb({ url: emptyEnv.DATABASE_URL, driver: "pg" });
    expect(await isSchemaCurrent(opened.db)).toBe(true);
    await opened.close();
    expect((await runCli(["migrate"], emptyEnv)).stdout).toBe("Database already up to date (pg).\n");
  });

  it("adds a company and prints its id", async () => {
    const result = await runCli(["companies", "add", "Plomberie Martin"], env);
    expect(result.code).toBe(0);
    const id = Number(result.stdout.trim());
    const [row] = await database.db.select().from(companies).where(eq(companies.id, id));
    expect(row?.name).toBe("Plomberie Martin");
  });

  it("stores the password read from stdin encrypted, and never shows it when listing", async () => {
    const companyId = await addCompany("Électricité Durand");
    const added = await runCli(
      ["integrations", "add", "--company", String(companyId), "--email", "contact@durand.fr", "--server", "imap.durand.fr", "--json"],
      env,
      `${MAILBOX_PASSWORD}\n`,
    );
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    const { id } = JSON.parse(added.stdout) as { id: number };
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id));
    expect(row).toMatchObject({ companyId, emailAddress: "contact@durand.fr", imapPort: 993, useSsl: true, tlsRejectUnauthorized: true });
    expect(row!.emailPassword).not.toContain(MAILBOX_PASSWORD);
    expect(row!.emailPassword).toMatch(/^v1:/);
    expect(decryptSecret(row!.emailPassword!, { encryptionKey: TEST_ENCRYPTION_KEY })).toBe(MAILBOX_PASSWORD);

    const human = await runCli(["integrations", "list", "--company", String(companyId)], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`#${id}  company ${companyId}  contact@durand.fr  imap.durand.fr:993`);
    expect(human.stdout).toContain("never synced");
    const asJson = await runCli(["integrations", "list", "--json"], env);
    expect(asJson.code).toBe(0);
    const listed = JSON.parse(asJson.stdout) as Record<string, unknown>[];
    expect(listed.find((i) => i.id === id)).toMatchObject({ email: "contact@durand.fr", lastSyncStatus: null, lastSyncError: null });
    for (const output of [human, asJson]) {
      for (const secret of [MAILBOX_PASSWORD, row!.emailPassword!]) expect(output.stdout + output.stderr).not.toContain(secret);
    }
  });

  it("reads the password from the variable named by --password-env, with STARTTLS and a self-signed opt-out", async () => {
    const companyId = await addCompany("Menuiserie Petit");
    const result = await runCli(
      ["integrations", "add", "--company", String(companyId), "--email", "atelier@petit.fr", "--server", "mail.petit.fr",
        "--no-ssl", "--insecure-tls", "--username", "atelier", "--interval", "15", "--initial-days", "7", "--primary",
        "--password-env", "PETIT_IMAP_PASSWORD", "--json"],
      { ...env, PETIT_IMAP_PASSWORD: MAILBOX_PASSWORD },
    );
    expect(result.code).toBe(0);
    const { id } = JSON.parse(result.stdout) as { id: number };
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id));
    expect(row).toMatchObject({
      imapPort: 143, useSsl: false, tlsRejectUnauthorized: false, imapUsername: "atelier",
      syncIntervalMinutes: 15, initialSyncDays: 7, isPrimary: true,
    });
    expect(decryptSecret(row!.emailPassword!, { encryptionKey: TEST_ENCRYPTION_KEY })).toBe(MAILBOX_PASSWORD);
  });

  it("refuses to add a mailbox without ENCRYPTION_KEY, saying so, before reading any password", async () => {
    const companyId = await addCompany("Sans Clé");
    const args = ["integrations", "add", "--company", String(companyId), "--email", "a@sanscle.fr", "--server", "imap.sanscle.fr"];
    const result = await runCli(args, { ...env, ENCRYPTION_KEY: "" }, MAILBOX_PASSWORD);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ENCRYPTION_KEY is not configured");
    const rows = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));
    expect(rows).toEqual([]);
  });

  it("refuses to add a mailbox on the internal network or off the mail ports, with the sync's message, before reading any password", async () => {
    const companyId = await addCompany("Réseau Interne");
    const hosted = { ...env, ALLOW_PRIVATE_MAIL_HOSTS: "false" };
    for (const server of [["127.0.0.1"], ["localhost", "--port", "143"], ["169.254.169.254"], ["93.184.216.34", "--port", "6379"]]) {
      const args = ["integrations", "add", "--company", String(companyId), "--email", "a@interne.fr", "--server", ...server];
      const result = await runCli(args, hosted, MAILBOX_PASSWORD);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`lokario-cron: ${MAIL_HOST_REFUSED}\n`);
    }
    const rows = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));
    expect(rows).toEqual([]);
  });

  it("refuses an empty password on stdin", async () => {
    const companyId = await addCompany("Mot de passe vide");
    const args = ["integrations", "add", "--company", String(companyId), "--email", "a@vide.fr", "--server", "imap.vide.fr"];
    const result = await runCli(args, env, "");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("no password");
  });

  it("tests a real mailbox: reports the INBOX and its UIDVALIDITY, and says why a wrong password fails", async () => {
    const dovecot = inject("dovecot");
    const user = `cli-${randomBytes(4).toString("hex")}`;
    appendFileSync(join(dovecot.dir, "users"), `${user}:{PLAIN}${MAILBOX_PASSWORD}\n`);
    const add = async (password: string) =>
      runCli(
        // One company each: the same mailbox twice in one company is refused.
        ["integrations", "add", "--company", String(await addCompany("Dovecot Test")), "--email", `${user}@localhost`, "--username", user,
          "--server", "127.0.0.1", "--port", String(dovecot.tlsPort), "--insecure-tls", "--json"],
        env,
        password,
      );
    const good = JSON.parse((await add(MAILBOX_PASSWORD)).stdout) as { id: number };
    const bad = JSON.parse((await add("not-the-password")).stdout) as { id: number };

    const tested = await runCli(["integrations", "test", String(good.id)], env);
    expect(tested.stderr).toBe("");
    expect(tested.code).toBe(0);
    expect(tested.stdout).toContain(`connected to 127.0.0.1:${dovecot.tlsPort} (implicit TLS) as ${user}`);
    expect(tested.stdout).toMatch(/INBOX: 0 messages \(0 unseen\), UIDVALIDITY \d+/);
    expect(tested.stdout).toContain("Sent read by the sync: none (no folder marked \\Sent or named like one");

    // A hosted install refuses the same mailbox before connecting, with the one message.
    const hosted = await runCli(["integrations", "test", String(good.id), "--json"], { ...env, ALLOW_PRIVATE_MAIL_HOSTS: "false" });
    expect(hosted.code).toBe(1);
    expect(JSON.parse(hosted.stdout)).toEqual({ success: false, integrationId: good.id, kind: "permanent", error: MAIL_HOST_REFUSED });

    const refused = await runCli(["integrations", "test", String(bad.id), "--json"], env);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ success: false, kind: "auth" });
    expect(refused.stdout + refused.stderr).not.toContain("not-the-password");
  });

  it("syncs once and prints the endpoint's summary JSON", async () => {
    const empty = await createTestDatabase("pg");
    try {
      const result = await runCli(["sync"], testEnv(empty, { LOG_LEVEL: "warn" }));
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(summary).toMatchObject({
        success: true,
        message: "Synchronisation inbox terminée avec succès",
        integrations: { attempted: 0, failed: 0 },
        remaining: false,
      });
      expect(summary).toHaveProperty("messagesImported");
      expect(summary).toHaveProperty("timestamp");
    } finally {
      await empty.drop();
    }
  });

  it("imports a whole mailbox with sync --until-done, showing progress after each run", async () => {
    const mailbox = await createMailbox();
    await mailbox.appendAll(Array.from({ length: 25 }, (_, i) => ({ raw: rawMail({ subject: `Demande ${i}` }) })));
    const { integrationId } = await insertIntegration(database.db, mailbox, { values: { initialSyncMaxMessages: 100 } });
    const args = ["sync", "--integration", String(integrationId), "--until-done"];
    const human = await runCli(args, { ...env, RUN_BUDGET_MS: "1000" });
    // stderr also carries the run's log lines (a slow run under load says so): read the progress lines.
    const runLines = human.stderr.split("\n").filter((line) => /^run \d+: /.test(line));
    expect(human.code, human.stderr).toBe(0);
    expect(runLines[0], human.stderr).toMatch(/^run 1: \d+ messages? imported/);
    expect(runLines.at(-1), human.stderr).toMatch(/ in all, done\.$/);
    expect(JSON.parse(human.stdout)).toMatchObject({ success: true, remaining: false });
    // Every message is in, whatever runs the budget cut it into (on a busy machine the first run
    // can spend its second on the login and be tried again).
    const stored = await database.db.select({ id: inboxMessages.id }).from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
    expect(stored).toHaveLength(25);

    const again = await runCli([...args, "--json"], env);
    const progress = again.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { progress?: { totalImported: number } })
      .flatMap((line) => (line.progress ? [line.progress] : []));
    expect(progress.at(-1), again.stderr).toMatchObject({ totalImported: 0, remaining: false });
  });

  it("reports each job's last runs and the failing mailboxes with status", async () => {
    const human = await runCli(["status"], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^inbox-sync: last success /m);
    expect(human.stdout).toContain("Follow-ups:");
    const json = JSON.parse((await runCli(["status", "--json"], env)).stdout) as Record<string, unknown>;
    expect(json).toHaveProperty("jobs.followups");
    expect(json).toHaveProperty("failingIntegrations");
  });

  it("runs the follow-ups as a dry run and prints their summary JSON", async () => {
    const result = await runCli(["followups", "run", "--dry-run"], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      success: true,
      message: "Traitement des relances automatiques terminé avec succès",
      sent: 0,
    });
  });

  it("runs any job of the registry by name, dry when it has a dry run, and refuses a name or a dry run it does not have", async () => {
    const dry = await runCli(["jobs", "run", "followups", "--dry-run"], env);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ success: true, message: "Traitement des relances automatiques terminé avec succès", sent: 0 });
    const unknown = await runCli(["jobs", "run", "nightly-report"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no job named nightly-report: one of inbox-sync, followups");
    const noDryRun = await runCli(["jobs", "run", "inbox-sync", "--dry-run"], env);
    expect(noDryRun.code).toBe(2);
    expect(noDryRun.stderr).toContain("inbox-sync has no dry run");
  });

  it("exits 1 with a clear message when the database is unreachable", async () => {
    const result = await runCli(["integrations", "list"], { ...env, DATABASE_URL: "postgres://u:db-secret@127.0.0.1:1/none" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("database unreachable");
    expect(result.stderr).not.toContain("db-secret");
  });

  async function addCompany(name: string): Promise<number> {
    const [row] = await database.db.insert(companies).values({ name }).returning({ id: companies.id });
    return row!.id;
  }
});
