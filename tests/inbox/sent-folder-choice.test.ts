// Which Sent folder(s) a sync reads when the server marks none `\Sent`: localised names under a
// hosting panel's `INBOX.` prefix (Courier, Cyrus, cPanel/Plesk layouts, `.` separator), and the
// folder holding the business's own mail over an empty one with a more generic name.

import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxFolderCursors, inboxMessages } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail, type TestMailbox } from "../support/mailbox.js";

const MINUTE_MS = 60_000;

describe("choosing the Sent folder by evidence when the server flags none", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let clockMs = Date.now();
  let logLines: string[] = [];
  const sync = async () => {
    const summary = await runJob(syncAllJob, {}, {
      config: testConfig(database),
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
    clockMs += 6 * MINUTE_MS;
    return summary;
  };
  const foldersOf = async (integrationId: number) =>
    (await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId))).map((m) => m.folder).sort();
  const cursorFoldersOf = async (integrationId: number) =>
    (await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId))).map((c) => c.folder).sort();
  const logged = (message: string) => logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === message || l.message === message);
  const ownMail = (mailbox: TestMailbox, subject: string) => rawMail({ from: `Atelier Durand <${mailbox.user}>`, to: "marie@client.test", subject });
  const connected = async (...folders: string[]) => {
    clockMs = Date.now();
    logLines = [];
    const mailbox = await createMailbox();
    for (const folder of folders) await mailbox.createFolder(folder);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    return { mailbox, integrationId };
  };

  it.each(["INBOX.Éléments envoyés", "INBOX.Messages envoyés", "INBOX.Sent Mail"])(
    "reads a Sent folder known only by its name under a hosting panel's INBOX. prefix (%s)",
    async (folder) => {
      const { mailbox, integrationId } = await connected(folder);
      await mailbox.append(ownMail(mailbox, "Votre devis"), { folder });

      expect(await sync()).toMatchObject({ messagesImported: 1, integrations: { succeeded: 1 } });

      expect(await foldersOf(integrationId)).toEqual([folder]);
    },
  );

  it("reads Outlook's unflagged Éléments envoyés holding the business's replies, not a phone's empty Sent Messages", async () => {
    const { mailbox, integrationId } = await connected("Sent Messages", "Éléments envoyés");
    await mailbox.append(ownMail(mailbox, "RE: Devis salle de bain"), { folder: "Éléments envoyés" });

    expect(await sync()).toMatchObject({ messagesImported: 1 });

    expect(await foldersOf(integrationId)).toEqual(["Éléments envoyés"]);
    expect(logged("Sent folder chosen")).toMatchObject([{ folders: ["Éléments envoyés"], reason: "own-mail" }]);
  });

  it("reads every Sent folder holding the business's mail, and remembers the choice on the next sync", async () => {
    const { mailbox, integrationId } = await connected("Sent Messages", "Éléments envoyés", "INBOX.Sent");
    await mailbox.append(ownMail(mailbox, "Depuis Outlook"), { folder: "Éléments envoyés" });
    await mailbox.append(ownMail(mailbox, "Depuis le téléphone"), { folder: "Sent Messages" });

    expect(await sync()).toMatchObject({ messagesImported: 2 });
    expect(await foldersOf(integrationId)).toEqual(["Sent Messages", "Éléments envoyés"]);

    // Mail reaching the empty third folder later does not reopen the choice: the remembered one holds.
    await mailbox.append(ownMail(mailbox, "Plus tard"), { folder: "Sent Messages" });
    logLines = [];
    expect(await sync()).toMatchObject({ messagesImported: 1 });
    expect(logged("Sent folder chosen")).toMatchObject([{ reason: "remembered" }]);
    expect(await cursorFoldersOf(integrationId)).toEqual(["INBOX", "Sent Messages", "Éléments envoyés"]);
  });

  it("reads the fullest of several Sent-named folders when none holds mail from the mailbox's address (written under an alias)", async () => {
    const { mailbox, integrationId } = await connected("Sent Messages", "Éléments envoyés");
    const alias = (subject: string) => rawMail({ from: "Atelier Durand <devis@atelier-durand.test>", to: "marie@client.test", subject });
    await mailbox.append(alias("Un"), { folder: "Sent Messages" });
    await mailbox.appendAll([{ raw: alias("Deux"), folder: "Éléments envoyés" }, { raw: alias("Trois"), folder: "Éléments envoyés" }]);

    expect(await sync()).toMatchObject({ messagesImported: 2 });

    expect(await foldersOf(integrationId)).toEqual(["Éléments envoyés", "Éléments envoyés"]);
    expect(logged("Sent folder chosen")).toMatchObject([{ folders: ["Éléments envoyés"], reason: "most-mail" }]);
  });

  it("says in the log that no Sent folder was found, and still syncs INBOX", async () => {
    const { mailbox, integrationId } = await connected("Archives");
    await mailbox.append(ownMail(mailbox, "Rangé"), { folder: "Archives" });

    expect(await sync()).toMatchObject({ integrations: { succeeded: 1 } });

    expect(await cursorFoldersOf(integrationId)).toEqual(["INBOX"]);
    expect(logged("no Sent folder found: the business's replies are not imported")).toHaveLength(1);
  });
});
