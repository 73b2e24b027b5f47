// The folder layouts of the providers a small business meets (docs/interop.md), each on a Dovecot of
// its own: the right Sent folder read, the folders holding copies or spam never read, and replies
// threaded, whatever the names, separator and prefix.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxFolderCursors, inboxMessages } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import type { DovecotLayout } from "../support/dovecot.js";
import { useFixture } from "../support/fixture.js";
import { rawMail } from "../support/mailbox.js";
import { createMatrixMailbox, insertMatrixIntegration, startDovecotLayout } from "./imap-kit.js";

const MINUTE_MS = 60_000;

interface ProviderLayout {
  label: string;
  layout: DovecotLayout;
  /** Where the business's mail program files what it sends. */
  sent: string;
  /** Folders named like a Sent folder that stay empty (a phone's own), which must not win. */
  emptySentNames: string[];
  /** Folders whose mail must never be imported: spam, and Gmail's \All (a copy of every message). */
  neverRead: string[];
  /** Gmail's \All: every message delivered or sent gets a copy there, and an archived one stays only there. */
  allMail?: string;
  /** What decides the Sent folder (lib/inbox/imap/sent-folders.ts): the flag where there is one, else the business's own mail. */
  sentChosenBy: "special-use" | "own-mail" | "only-candidate";
}

const LAYOUTS: ProviderLayout[] = [
  {
    label: "Gmail (French)",
    layout: "gmail",
    sent: "[Gmail]/Messages envoyés",
    emptySentNames: [],
    neverRead: ["[Gmail]/Spam", "[Gmail]/Tous les messages"],
    allMail: "[Gmail]/Tous les messages",
    sentChosenBy: "special-use",
  },
  {
    label: "Outlook (French, no special-use flags)",
    layout: "outlook",
    sent: "Éléments envoyés",
    emptySentNames: ["Sent Messages"],
    neverRead: ["Courrier indésirable"],
    sentChosenBy: "own-mail",
  },
  {
    label: "hosting panel (INBOX. prefix, . separator)",
    layout: "hosting-panel",
    sent: "INBOX.Messages envoyés",
    emptySentNames: ["INBOX.Sent Messages"],
    neverRead: ["INBOX.Spam", "INBOX.Junk"],
    sentChosenBy: "own-mail",
  },
];

describe.each(LAYOUTS)("the inbox sync on a $label layout", ({ layout, sent, emptySentNames, neverRead, allMail, sentChosenBy }) => {
  const server = useFixture(`Dovecot ${layout}`, { start: () => startDovecotLayout(layout), close: (s) => s.stop() });
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-layouts-"));
  let clockMs = Date.now();
  /** The last run's log lines. */
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
  const sentChoice = () =>
    logLines.map((l) => JSON.parse(l) as { msg: string; folders?: string[]; reason?: string }).find((l) => l.msg === "Sent folder chosen");
  const messagesOf = (integrationId: number) =>
    database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.id);
  const messageId = (raw: string) => /Message-ID: (<[^>]+>)/.exec(raw)![1]!;

  it(`reads the business's answer from ${sent}, never the spam or copies, and threads the client's later reply`, async () => {
    clockMs = Date.now();
    const mailbox = await createMatrixMailbox(server);
    for (const folder of [sent, ...emptySentNames, ...neverRead]) await mailbox.createFolder(folder);
    /** Delivers as the provider does: Gmail also keeps a copy of every message in its \All folder. */
    const deliver = (raw: string, folder = "INBOX") =>
      mailbox.appendAll([{ raw, folder }, ...(allMail ? [{ raw, folder: allMail }] : [])]);
    const spam = (subject: string) => rawMail({ from: "Promo <promo@spam.test>", to: mailbox.user, subject });

    const question = rawMail({ from: "Marie Curie <marie@client.test>", to: mailbox.user, subject: "Devis toiture" });
    const answer = rawMail({
      from: `Atelier Durand <${mailbox.user}>`, to: "marie@client.test", subject: "RE: Devis toiture",
      headers: { "In-Reply-To": messageId(question), References: messageId(question) },
    });
    await deliver(question);
    await deliver(answer, sent);
    for (const folder of neverRead.filter((f) => f !== allMail)) await mailbox.appendAll([{ raw: spam(`Gagnez (${folder})`), folder }]);
    // Archived in Gmail: out of INBOX, so only \All has it. Reading \All would import it.
    if (allMail) await mailbox.appendAll([{ raw: rawMail({ from: "Jean Martin <jean@client.test>", subject: "Archivé" }), folder: allMail }]);
    const { integrationId } = await insertMatrixIntegration(database.db, mailbox, "tls");

    expect(await sync()).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 2, messagesSetAside: 0 });
    const first = await messagesOf(integrationId);
    expect(first.map((m) => [m.folder, m.isFromClient]).sort()).toEqual([["INBOX", true], [sent, false]].sort());
    expect(first[1]!.conversationId).toBe(first[0]!.conversationId);
    expect(sentChoice()).toMatchObject({ folders: [sent], reason: sentChosenBy });

    // Another subject: only In-Reply-To ties the reply to the conversation. More spam arrives meanwhile.
    await deliver(rawMail({
      from: "Marie Curie <marie@client.test>", to: mailbox.user, subject: "Photos du toit",
      headers: { "In-Reply-To": messageId(answer), References: `${messageId(question)} ${messageId(answer)}` },
    }));
    for (const folder of neverRead.filter((f) => f !== allMail)) await mailbox.appendAll([{ raw: spam(`Encore (${folder})`), folder }]);
    clockMs += 6 * MINUTE_MS;
    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 1 });

    const messages = await messagesOf(integrationId);
    expect(messages).toHaveLength(3);
    expect(new Set(messages.map((m) => m.folder))).toEqual(new Set(["INBOX", sent]));
    expect(new Set(messages.map((m) => m.conversationId)).size).toBe(1);
    const cursors = await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId));
    expect(cursors.map((c) => c.folder).sort()).toEqual(["INBOX", sent].sort());
  });
});
