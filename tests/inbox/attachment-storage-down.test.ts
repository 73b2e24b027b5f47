// Attachment storage that cannot write (a full disk, a path that is not a directory): the folder
// stops before the message, nothing is set aside, and the next run imports it with its attachments.

import { mkdtempSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxMessages, inboxQuarantine, messageAttachments } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";

const WITH_ATTACHMENTS = new URL("../fixtures/eml/attachments-pdf-image.eml", import.meta.url);

describe("inbox sync with attachment storage down", () => {
  const database = useDatabase("pg");

  it("stops the folder before a message whose attachments cannot be written, sets nothing aside, and imports it on the next run", async () => {
    const mailbox = await createMailbox();
    await mailbox.appendAll([
      { raw: rawMail({ subject: "Avant", messageId: "avant@client.example" }) },
      { raw: (await readFile(WITH_ATTACHMENTS)).toString("utf8") },
      { raw: rawMail({ subject: "Après", messageId: "apres@client.example" }) },
    ]);
    const { integrationId } = await insertIntegration(database.db, mailbox, { values: { initialSyncMaxMessages: 10, initialSyncDays: 36_500 } });
    const log = createLogger("test", { level: "silent" });
    // A path under a regular file: every write fails (ENOTDIR), even as root.
    const notADirectory = join(mkdtempSync(join(tmpdir(), "lokario-storage-down-")), "file");
    writeFileSync(notADirectory, "");
    const down = testConfig(database, { ATTACHMENTS_STORAGE: "local", ATTACHMENTS_DIR: join(notADirectory, "attachments") });

    const failed = await runJob(syncAllJob, { integrationId }, { config: down, log, trigger: "test" });
    expect(failed.integrations.failed).toBe(1);
    expect(failed.failures[0]!.reason).toMatch(/^attachment could not be stored/);
    const stored = () => database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
    // The message before is stored; the one after is not.
    expect((await stored()).map((m) => m.externalId)).toEqual(["<avant@client.example>"]);
    expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId))).toHaveLength(0);

    const up = testConfig(database, { ATTACHMENTS_STORAGE: "local", ATTACHMENTS_DIR: mkdtempSync(join(tmpdir(), "lokario-storage-up-")) });
    const next = await runJob(syncAllJob, { integrationId }, { config: up, log, trigger: "test" });
    expect(next.integrations.failed).toBe(0);
    const all = await stored();
    expect(all).toHaveLength(3);
    const withFiles = all.find((m) => m.externalId === "<attachments@client.example>")!;
    const attachments = await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, withFiles.id));
    expect(attachments.map((a) => a.isStored)).toEqual([true, true]);
  });
});
