// A mailbox's life after `integrations add`, on the real `lokario-cron` binary and a real
// PostgreSQL: changing its settings, turning it off and on, removing it (and saying what happens to
// its mail), and the rule that the same mailbox cannot be added twice.

import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { decryptSecret } from "../../lib/crypto/secret-box.js";
import {
  companies, conversations, inboxFolderCursors, inboxIntegrations, inboxMessages, messageAttachments,
} from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { TEST_ENCRYPTION_KEY, testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { runCli } from "./run-cli.js";

/** A text part and a small PDF attachment (multipart body for `rawMail`). */
const WITH_PDF = [
  "--b1", "Content-Type: text/plain; charset=utf-8", "", "Voici la facture.", "--b1",
  "Content-Type: application/pdf; name=facture.pdf", "Content-Disposition: attachment; filename=facture.pdf",
  "Content-Transfer-Encoding: base64", "", Buffer.from("%PDF-1.4 test").toString("base64"), "--b1--",
].join("\r\n");

describe("lokario-cron integrations lifecycle", () => {
  const database = useDatabase("pg");
  let env: Record<string, string>;
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-cli-lifecycle-"));

  beforeAll(async () => {
    env = testEnv(database, { LOG_LEVEL: "warn", ATTACHMENTS_DIR: attachmentsDir });
  });

  async function addCompany(name = "Plomberie Martin"): Promise<number> {
    const [row] = await database.db.insert(companies).values({ name }).returning({ id: companies.id });
    return row!.id;
  }
  const rowOf = async (id: number) => (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0];
  const add = (companyId: number, email: string, server: string, extra: string[] = []) =>
    runCli(["integrations", "add", "--company", String(companyId), "--email", email, "--server", server, "--json", ...extra], env, "pw-1\n");

  async function syncedMailbox() {
    const mailbox = await createMailbox();
    await mailbox.appendAll([
      { raw: rawMail({ subject: "Demande de devis" }) },
      { raw: rawMail({ subject: "Facture jointe", headers: { "Content-Type": 'multipart/mixed; boundary="b1"' }, body: WITH_PDF }) },
    ]);
    const ids = await insertIntegration(database.db, mailbox, { values: { initialSyncMaxMessages: 100 } });
    const result = await runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir }),
      log: createLogger("test", { level: "silent" }), trigger: "test",
    });
    expect(result).toMatchObject({ messagesImported: 2 });
    return { mailbox, ...ids };
  }

  it("refuses the same mailbox twice for a company, whatever the case of its login and server, and names the mailbox in the way", async () => {
    const companyId = await addCompany();
    const first = await add(companyId, "contact@martin.fr", "imap.martin.fr");
    expect(first.code).toBe(0);
    const { id: firstId } = JSON.parse(first.stdout) as { id: number };
    const second = await add(companyId, "Contact@Martin.fr", "IMAP.martin.fr");
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(
      `company ${companyId} already has an active mailbox for Contact@Martin.fr on IMAP.martin.fr: ` +
        `integration ${firstId} (contact@martin.fr on imap.martin.fr, active). Change that one instead (lokario-cron integrations update ${firstId})`,
    );
    expect(await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId))).toHaveLength(1);

    // Another company may hold the same account (an accountant's shared mailbox), and so may another server.
    expect((await add(await addCompany("Autre"), "contact@martin.fr", "imap.martin.fr")).code).toBe(0);
    expect((await add(companyId, "contact@martin.fr", "imap2.martin.fr")).code).toBe(0);
  });

  it("refuses a duplicate written straight to the table by the app, but admits it once the first is disabled", async () => {
    const companyId = await addCompany();
    const insert = (isActive = true) =>
      database.db.insert(inboxIntegrations).values({
        companyId, imapServer: "imap.durand.fr", emailAddress: "a@durand.fr", imapUsername: null, isActive,
      }).returning({ id: inboxIntegrations.id });
    const [first] = await insert();
    await expect(insert()).rejects.toMatchObject({ cause: expect.objectContaining({ code: "23505" }) });
    await expect(
      database.db.execute(sql`insert into inbox_integrations (company_id, imap_server, email_address, imap_username)
        values (${companyId}, 'imap.durand.fr', 'other@durand.fr', ' A@Durand.FR ')`),
    ).rejects.toBeTruthy();

    const disabled = await runCli(["integrations", "disable", String(first!.id)], env);
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toContain(`Integration ${first!.id} disabled`);
    const [second] = await insert();
    const enabled = await runCli(["integrations", "enable", String(first!.id)], env);
    expect(enabled.code).toBe(1);
    expect(enabled.stderr).toContain(`already has an active mailbox for a@durand.fr on imap.durand.fr: integration ${second!.id} (a@durand.fr on imap.durand.fr, active)`);
    expect((await rowOf(first!.id))!.isActive).toBe(false);
    expect((await rowOf(second!.id))!.isActive).toBe(true);
  });

  it("refuses to add again a mailbox the company has disabled, names it and says how to turn it back on", async () => {
    const companyId = await addCompany("Menuiserie Roux");
    const { id } = JSON.parse((await add(companyId, "atelier@roux.fr", "imap.roux.fr")).stdout) as { id: number };
    expect((await runCli(["integrations", "disable", String(id)], env)).code).toBe(0);

    const again = await add(companyId, "Atelier@Roux.fr", "imap.roux.fr");

    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      `company ${companyId} already has this mailbox, disabled: integration ${id} (atelier@roux.fr on imap.roux.fr, disabled). ` +
        `Turn it back on with: lokario-cron integrations enable ${id}`,
    );
    expect(again.stdout).not.toContain("IMAP password");
    expect(await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId))).toHaveLength(1);
    expect((await runCli(["integrations", "enable", String(id)], env)).code).toBe(0);
  });

  it("updates each setting, keeps the ones not given, and stores a new password from stdin encrypted", async () => {
    const companyId = await addCompany();
    const { id } = JSON.parse((await add(companyId, "atelier@petit.fr", "imap.petit.fr")).stdout) as { id: number };
    const { id: otherId } = JSON.parse((await add(companyId, "compta@petit.fr", "imap.petit.fr", ["--primary"])).stdout) as { id: number };
    const result = await runCli(
      ["integrations", "update", String(id), "--no-ssl", "--insecure-tls", "--interval", "15", "--name", "Atelier",
        "--primary", "--password-stdin", "--smtp-server", "smtp.petit.fr", "--smtp-port", "587", "--smtp-starttls",
        "--smtp-username", "atelier", "--smtp-password-env", "SMTP_PW"],
      { ...env, SMTP_PW: "smtp-secret" },
      "new-imap-secret\n",
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("The port followed the TLS mode: now 143");
    expect(result.stdout).toContain(`Integration ${otherId} is no longer the company's sending mailbox.`);
    expect(result.stdout + result.stderr).not.toMatch(/new-imap-secret|smtp-secret/);
    const row = (await rowOf(id))!;
    expect(row).toMatchObject({
      imapServer: "imap.petit.fr", emailAddress: "atelier@petit.fr", imapPort: 143, useSsl: false, tlsRejectUnauthorized: false,
      syncIntervalMinutes: 15, name: "Atelier", isPrimary: true,
      smtpServer: "smtp.petit.fr", smtpPort: 587, smtpUseSsl: false, smtpUsername: "atelier",
    });
    expect(decryptSecret(row.emailPassword!, { encryptionKey: TEST_ENCRYPTION_KEY })).toBe("new-imap-secret");
    expect(decryptSecret(row.smtpPassword!, { encryptionKey: TEST_ENCRYPTION_KEY })).toBe("smtp-secret");
    expect((await rowOf(otherId))!.isPrimary).toBe(false);

    const cleared = await runCli(["integrations", "update", String(id), "--smtp-clear", "--verify-tls"], env);
    expect(cleared.code).toBe(0);
    expect(await rowOf(id)).toMatchObject({ smtpServer: null, smtpPort: null, smtpPassword: null, tlsRejectUnauthorized: true, imapPort: 143 });
  });

  it("resets the folder cursors when the server changes, and says so; what the new account holds is then backfill", async () => {
    const { integrationId } = await syncedMailbox();
    const connectedAt = new Date(Date.now() - 86_400_000);
    await database.db.update(inboxIntegrations).set({ connectedAt }).where(eq(inboxIntegrations.id, integrationId));
    expect(await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId))).not.toEqual([]);
    const result = await runCli(["integrations", "update", String(integrationId), "--server", "localhost"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Warning: a new server or login means new UIDs: the (folder cursor was|\d+ folder cursors were) reset/);
    expect(await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId))).toEqual([]);
    expect(await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId))).toHaveLength(2);
    // Connected anew: the mail it held until now comes in as backfill, not as a flood of new mail.
    expect((await rowOf(integrationId))!.connectedAt.getTime()).toBeGreaterThan(connectedAt.getTime() + 3_600_000);
  });

  it("chooses the folders a mailbox syncs with --folders, and refuses a folder it does not know", async () => {
    const companyId = await addCompany();
    const { id } = JSON.parse((await add(companyId, "dossiers@plomberie.fr", "imap.plomberie.fr")).stdout) as { id: number };
    expect((await rowOf(id))!.syncedFolders).toEqual(["inbox", "sent"]);
    const result = await runCli(["integrations", "update", String(id), "--folders", "inbox"], env);
    expect(result.code).toBe(0);
    expect((await rowOf(id))!.syncedFolders).toEqual(["inbox"]);
    const wrong = await runCli(["integrations", "update", String(id), "--folders", "inbox,spam"], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("--folders must list folder roles among inbox, sent");
    expect((await rowOf(id))!.syncedFolders).toEqual(["inbox"]);
  });

  it("refuses to remove a mailbox without a terminal until told what happens to its mail, saying how much there is", async () => {
    const { integrationId } = await syncedMailbox();
    const refused = await runCli(["integrations", "remove", String(integrationId)], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`integration ${integrationId} imported 2 conversations, 2 messages and 1 attachment`);
    expect(refused.stderr).toContain("--keep-mail");
    expect(refused.stderr).toContain("--delete-mail");
    expect(await rowOf(integrationId)).toBeDefined();
  });

  it("removes a mailbox and keeps its mail, detached, with --keep-mail", async () => {
    const { integrationId } = await syncedMailbox();
    const messageIds = (await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId))).map((m) => m.id);
    const result = await runCli(["integrations", "remove", String(integrationId), "--keep-mail"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("2 messages and 1 attachment kept in the company's inbox");
    expect(await rowOf(integrationId)).toBeUndefined();
    const kept = await database.db.select().from(inboxMessages).where(sql`${inboxMessages.id} in ${messageIds}`);
    expect(kept.map((m) => m.integrationId)).toEqual([null, null]);
  });

  it("removes a mailbox with its conversations, messages and attachments with --delete-mail", async () => {
    const { integrationId, companyId } = await syncedMailbox();
    const result = await runCli(["integrations", "remove", String(integrationId), "--delete-mail", "--json"], env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ conversations: 2, messages: 2, attachments: 1, isMailDeleted: true, filesNotRemoved: 0 });
    expect(await database.db.select().from(conversations).where(eq(conversations.companyId, companyId))).toEqual([]);
    const attachments = await database.db.select().from(messageAttachments)
      .innerJoin(inboxMessages, eq(messageAttachments.messageId, inboxMessages.id))
      .where(eq(inboxMessages.integrationId, integrationId));
    expect(attachments).toEqual([]);
  });

  it("says a port that does not speak TLS needs STARTTLS, as a permanent error, when implicit TLS meets Dovecot's STARTTLS port", async () => {
    const mailbox = await createMailbox();
    const { integrationId } = await insertIntegration(database.db, mailbox, { port: mailbox.dovecot.port, values: { useSsl: true } });
    const result = await runCli(["integrations", "test", String(integrationId), "--json"], env);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({
      success: false, kind: "permanent", error: "this port does not speak TLS: use STARTTLS (--no-ssl) or port 993",
    });
  });

  it("names --insecure-tls and the update command when Dovecot's self-signed certificate is verified", async () => {
    const mailbox = await createMailbox();
    const { integrationId } = await insertIntegration(database.db, mailbox, { transport: "tls", values: { tlsRejectUnauthorized: true } });
    const result = await runCli(["integrations", "test", String(integrationId), "--json"], env);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { kind: string; error: string };
    expect(report.kind).toBe("permanent");
    expect(report.error).toContain("self-signed certificate");
    expect(report.error).toContain(`accept it with --insecure-tls (lokario-cron integrations update ${integrationId} --insecure-tls)`);

    expect((await runCli(["integrations", "update", String(integrationId), "--insecure-tls"], env)).code).toBe(0);
    expect((await runCli(["integrations", "test", String(integrationId)], env)).code).toBe(0);
  });

  it("finds and stores a mailbox's SMTP settings with --smtp-discover, and says where they came from", async () => {
    const companyId = await addCompany();
    const { id } = JSON.parse((await add(companyId, "contact@wanadoo.fr", "imap.orange.fr")).stdout) as { id: number };
    const result = await runCli(["integrations", "update", String(id), "--smtp-discover"], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("SMTP found (provider Orange): smtp.orange.fr:465 (implicit TLS).");
    expect(await rowOf(id)).toMatchObject({ smtpServer: "smtp.orange.fr", smtpPort: 465, smtpUseSsl: true });

    const { id: unknownId } = JSON.parse((await add(companyId, "a@atelier.example", "imap.atelier.example")).stdout) as { id: number };
    const missing = await runCli(["integrations", "update", String(unknownId), "--smtp-discover"], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no SMTP settings found for a@atelier.example");
    expect(missing.stderr).toContain("--smtp-server HOST --smtp-port N");
  });

  it("answers a clear error for a mailbox that does not exist", async () => {
    const id = 900_000 + randomBytes(2).readUInt16BE();
    for (const command of ["update", "enable", "disable", "remove"]) {
      const result = await runCli(["integrations", command, String(id), ...(command === "update" ? ["--name", "x"] : [])], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`integration ${id} does not exist`);
    }
  });
});
