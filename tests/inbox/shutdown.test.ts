import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { BATCH_MAX_MESSAGES } from "../../lib/inbox/mail-source.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";

/** Four batches of small mail: a stop after the first leaves some for the next run. */
const MESSAGES = 4 * BATCH_MAX_MESSAGES;

describe("inbox sync asked to stop (server shutting down)", () => {
  const database = useDatabase("pg");
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-shutdown-"));

  it("finishes the batch in hand, frees the mailbox as a success with work left, and the next run imports the rest once", async () => {
    const mailbox = await createMailbox();
    await mailbox.appendAll(
      Array.from({ length: MESSAGES }, (_, i) => ({ raw: rawMail({ subject: `Demande ${i}`, body: `${"texte ".repeat(1000)}${i}` }) })),
    );
    const { integrationId } = await insertIntegration(database.db, mailbox, { values: { initialSyncMaxMessages: MESSAGES } });
    const count = async () => database.db.$count(inboxMessages, eq(inboxMessages.integrationId, integrationId));
    const config = testConfig(database, { ATTACHMENTS_DIR: attachmentsDir });
    const log = createLogger("test", { level: "silent" });

    const stopping = new AbortController();
    const run = runJob(syncAllJob, {}, { config, log, trigger: "schedule", stopSignal: stopping.signal });
    while ((await count()) === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    stopping.abort(new Error("SIGTERM"));
    const stopped = await run;

    expect(stopped.integrations.failed).toBe(0);
    expect(stopped.remaining).toBe(true);
    const imported = await count();
    expect(imported).toBeGreaterThan(0);
    expect(imported).toBeLessThan(MESSAGES);
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    expect(row).toMatchObject({ lastSyncStatus: "success", consecutiveFailures: 0, leaseOwner: null });

    const next = await runJob(syncAllJob, {}, { config, log, trigger: "schedule" });
    expect(next.messagesImported).toBe(MESSAGES - imported);
    const uids = (await database.db.select({ uid: inboxMessages.uid }).from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId))).map((m) => m.uid);
    expect(new Set(uids).size).toBe(MESSAGES);
  });
  it("says work is left, not that the mailbox was skipped, when a sync of one mailbox stops before claiming it", async () => {
    const mailbox = await createMailbox();
    await mailbox.appendAll([{ raw: rawMail({ subject: "Demande" }) }]);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const config = testConfig(database, { ATTACHMENTS_DIR: attachmentsDir });
    const log = createLogger("test", { level: "silent" });

    // `sync --integration ID --until-done` goes on while `remaining` is true: a run cut before it
    // could claim the mailbox (a slow start on a busy machine) must not end the loop as "done".
    const cut = await runJob(syncAllJob, { integrationId }, { config, log, trigger: "cli", stopSignal: AbortSignal.abort(new Error("SIGTERM")) });
    expect(cut).toMatchObject({ remaining: true, messagesImported: 0, integrations: { attempted: 0, skipped: 0 } });

    const next = await runJob(syncAllJob, { integrationId }, { config, log, trigger: "cli" });
    expect(next).toMatchObject({ remaining: false, messagesImported: 1 });
  });
});
