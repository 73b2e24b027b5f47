// The interop matrix (docs/interop.md): the inbox sync's end-to-end cases, run against every IMAP
// server a small business meets, each started here on loopback ports with STARTTLS and implicit TLS.

import { mkdtempSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxFolderCursors, inboxMessages, messageAttachments } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { useFixture } from "../support/fixture.js";
import type { ImapTestServer } from "../support/imap-test-server.js";
import { startCourier } from "../support/courier.js";
import { startCyrus } from "../support/cyrus.js";
import { startImap4d } from "../support/imap4d.js";
import { rawMail } from "../support/mailbox.js";
import { readFixture } from "../inbox/message-kit.js";
import { createMatrixMailbox, insertMatrixIntegration, runDovecot } from "./imap-kit.js";

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** The matrix's cases, by the name docs/interop.md gives them. */
type MatrixCase = "first sync" | "live mail" | "Sent folder" | "threading" | "attachments" | "UIDVALIDITY change";

interface MatrixServer {
  label: string;
  start(): Promise<ImapTestServer>;
  /**
   * Cases a server cannot pass today, each with the reason (a server bug the product does not work
   * around yet): docs/interop.md shows them as gaps. Remove an entry to see its test fail.
   */
  gaps?: Partial<Record<MatrixCase, string>>;
  /**
   * The server's `UID SEARCH UID n:*` misses new mail, so the sync asks again with `UID FETCH n:* (UID)`
   * (lib/inbox/imap/search-uids.ts). Elsewhere that fallback must never be sent.
   */
  needsUidFetchFallback?: true;
  /**
   * The path the business's "Sent" folder has there, as the sync records it (default "Sent"): where the
   * personal namespace has a prefix, a mail program creates its folders under it (INBOX.Sent).
   */
  sentFolder?: string;
}

const SERVERS: MatrixServer[] = [
  { label: "Dovecot", start: async () => runDovecot() },
  { label: "Cyrus", start: startCyrus },
  {
    label: "GNU Mailutils imap4d",
    start: startImap4d,
    // imap4d 3.15 reads the set of a UID SEARCH's UID key as message sequence numbers (UID SEARCH UID 7
    // finds nothing when UID 7 is message 3; UID n:* finds nothing at all).
    needsUidFetchFallback: true,
  },
  // Every folder under the personal namespace INBOX. with a "." separator, as hosting panels have them.
  { label: "Courier", start: startCourier, sentFolder: "INBOX.Sent" },
];

describe.each(SERVERS)("the inbox sync on $label", ({ label, start, gaps = {}, needsUidFetchFallback = false, sentFolder = "Sent" }) => {
  /** Registers a case unless the server has a documented gap for it. */
  const matrixCase = (name: MatrixCase, title: string, fn: () => Promise<void>) => {
    if (!(name in gaps)) it(title, fn);
  };
  const server = useFixture(label, { start, close: (s) => s.stop() });
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-interop-"));
  let clockMs = Date.now();
  /** The last run's log lines, imapflow's commands included. */
  let logLines: string[] = [];

  const sync = () => {
    logLines = [];
    return runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir, LOG_LEVEL: "debug" }),
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
  };
  /** Commands of the last run matching `pattern` (imapflow logs each command it sends). */
  const commandsSent = (pattern: RegExp) => logLines.filter((l) => pattern.test((JSON.parse(l) as { msg: string }).msg)).length;
  /** The business clock moves on, so the integration is due again. */
  const later = () => {
    clockMs += 6 * MINUTE_MS;
  };
  const messagesOf = (integrationId: number) =>
    database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.id);
  const cursorOf = async (integrationId: number, folder = "INBOX") =>
    (await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId)))
      .find((c) => c.folder === folder);
  /** A mailbox connected and synced once while empty (a Sent folder made first if asked): what follows is live mail. */
  const connectedMailbox = async (options: { sentFolder?: string; transport?: "starttls" | "tls" } = {}) => {
    clockMs = Date.now();
    const mailbox = await createMatrixMailbox(server);
    if (options.sentFolder) await mailbox.createFolder(options.sentFolder);
    const ids = await insertMatrixIntegration(database.db, mailbox, options.transport ?? "tls");
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 0 });
    later();
    return { mailbox, ...ids };
  };

  matrixCase("first sync", "imports only the first-sync window, as backfill, over STARTTLS", async () => {
    clockMs = Date.now();
    const mailbox = await createMatrixMailbox(server);
    const old = new Date(Date.now() - 45 * DAY_MS);
    await mailbox.appendAll([
      { raw: rawMail({ subject: "Ancien 1", date: old }), internalDate: old },
      { raw: rawMail({ subject: "Récent 1" }), internalDate: new Date(Date.now() - 2 * DAY_MS) },
      { raw: rawMail({ subject: "Ancien 2", date: old }), internalDate: old },
      { raw: rawMail({ subject: "Récent 2" }) },
    ]);
    const { integrationId } = await insertMatrixIntegration(database.db, mailbox, "starttls");

    expect(await sync()).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 2, messagesSetAside: 0 });

    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => [m.uid, m.isBackfill])).toEqual([[2, true], [4, true]]);
    expect(await cursorOf(integrationId)).toMatchObject({ uidValidity: await mailbox.uidValidity(), lastUid: 4 });
  });

  matrixCase("live mail", "imports live mail on the next run over implicit TLS, and a run with nothing new imports nothing", async () => {
    const { mailbox, integrationId } = await connectedMailbox({ transport: "tls" });
    await mailbox.appendAll([{ raw: rawMail({ subject: "Nouveau 1" }) }, { raw: rawMail({ subject: "Nouveau 2" }) }]);
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 2 });
    // One UID SEARCH after the cursor; the UID-only FETCH only where that search is known wrong.
    expect(commandsSent(/^imapflow: .*UID SEARCH/i)).toBeGreaterThan(0);
    expect(commandsSent(/^imapflow: .*UID FETCH \S+ \(?UID( MODSEQ)?\)?$/i) > 0).toBe(needsUidFetchFallback);
    later();
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 0 });

    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => [m.uid, m.isBackfill, m.folder])).toEqual([[1, false, "INBOX"], [2, false, "INBOX"]]);
    expect(new Set(messages.map((m) => m.dedupeKey)).size).toBe(2);
  });

  matrixCase("Sent folder", "reads the business's answer from its Sent folder and files it in the client's conversation", async () => {
    clockMs = Date.now();
    const mailbox = await createMatrixMailbox(server);
    await mailbox.createFolder("Sent");
    const question = rawMail({ from: "Marie Curie <marie@client.test>", to: mailbox.user, subject: "Devis salle de bain" });
    const questionId = /Message-ID: (<[^>]+>)/.exec(question)![1]!;
    await mailbox.appendAll([
      { raw: question },
      {
        raw: rawMail({
          from: `Atelier Durand <${mailbox.user}>`, to: "marie@client.test", subject: "RE: Devis salle de bain",
          headers: { "In-Reply-To": questionId, References: questionId },
        }),
        folder: "Sent",
      },
    ]);
    const { integrationId } = await insertMatrixIntegration(database.db, mailbox, "tls");

    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 2 });

    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => [m.folder, m.isFromClient]).sort()).toEqual([["INBOX", true], [sentFolder, false]]);
    expect(messages[1]!.conversationId).toBe(messages[0]!.conversationId);
  });

  matrixCase("threading", "threads the client's reply, arriving on a later run, into the conversation it answers", async () => {
    const { mailbox, integrationId } = await connectedMailbox();
    const first = rawMail({ from: "Jean Martin <jean@client.test>", subject: "Fuite sous l'évier" });
    const firstId = /Message-ID: (<[^>]+>)/.exec(first)![1]!;
    await mailbox.appendAll([{ raw: first }]);
    await sync();
    later();
    // Another subject, so only In-Reply-To can tie it to the first message.
    await mailbox.appendAll([
      { raw: rawMail({ from: "Jean Martin <jean@client.test>", subject: "Photos", headers: { "In-Reply-To": firstId, References: firstId } }) },
    ]);
    expect(await sync()).toMatchObject({ messagesImported: 1 });

    const messages = await messagesOf(integrationId);
    expect(messages).toHaveLength(2);
    expect(messages[1]!.conversationId).toBe(messages[0]!.conversationId);
  });

  matrixCase("attachments", "stores a message's attachments with their names, kinds and bytes", async () => {
    clockMs = Date.now();
    const mailbox = await createMatrixMailbox(server);
    // Dated today: a first sync reads a recent window, and some servers date a message by its header.
    const fixture = (await readFixture("attachments-pdf-image.eml")).toString("utf8");
    await mailbox.appendAll([{ raw: fixture.replace(/^Date: .*$/m, `Date: ${new Date().toUTCString()}`) }]);
    const { integrationId } = await insertMatrixIntegration(database.db, mailbox, "tls");
    expect(await sync()).toMatchObject({ messagesImported: 1, messagesSetAside: 0 });

    const [message] = await messagesOf(integrationId);
    const rows = await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, message!.id)).orderBy(messageAttachments.id);
    expect(rows.map((r) => [r.name, r.fileType, r.fileSize, r.isStored])).toEqual([
      ["Facture FAC-2025-014.pdf", "pdf", 48, true],
      ["photo châssis.png", "image", 70, true],
    ]);
    const pdf = await readFile(join(attachmentsDir, rows[0]!.filePath!));
    expect(pdf.subarray(0, 8).toString()).toBe("%PDF-1.4");
  });

  matrixCase("UIDVALIDITY change", "resyncs the recent window after a UIDVALIDITY change, without duplicating what was imported", async () => {
    clockMs = Date.now();
    const mailbox = await createMatrixMailbox(server);
    await mailbox.appendAll([{ raw: rawMail({ subject: "Un" }) }, { raw: rawMail({ subject: "Deux" }) }]);
    const { integrationId } = await insertMatrixIntegration(database.db, mailbox, "tls");
    expect(await sync()).toMatchObject({ messagesImported: 2 });
    const oldValidity = await mailbox.uidValidity();

    await server.renumberInbox!(mailbox);
    await mailbox.appendAll([{ raw: rawMail({ subject: "Trois" }) }]);
    later();
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 1 });

    const messages = await messagesOf(integrationId);
    expect(new Set(messages.map((m) => m.dedupeKey)).size).toBe(3);
    expect(messages).toHaveLength(3);
    const cursor = await cursorOf(integrationId);
    expect(cursor!.uidValidity).not.toBe(oldValidity);
    expect(cursor).toMatchObject({ uidValidity: await mailbox.uidValidity(), uidValidityChanges: 1 });
  });
});
