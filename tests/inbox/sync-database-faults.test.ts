// The inbox sync when the database, not the message, is at fault: a message whose store keeps
// failing for a reason that may pass (here a lock held elsewhere past `lock_timeout`) stops the
// folder before it and is imported by the next run, never set aside, also when it fails while the
// next batch is already being prepared.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { conversations, inboxMessages, inboxQuarantine } from "../../lib/db/schema.js";
import { readCursor } from "../../lib/inbox/imap/cursor.js";
import { BATCH_MAX_MESSAGES } from "../../lib/inbox/mail-source.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";

const DAY_MS = 24 * 60 * 60 * 1000;

describe("inbox sync: the database busy or unreachable", () => {
  const database = useDatabase("pg");
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-db-faults-"));


  const sync = (integrationId: number) =>
    runJob(syncAllJob, { integrationId }, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir }),
      log: createLogger("test", { level: "silent" }),
      trigger: "test",
    });
  const storedUids = async (integrationId: number) =>
    (await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.uid)).map((m) => m.uid);

  /** Runs `during` while another session holds a conversation's row, longer than this database lets anyone wait for a lock. */
  const whileLocked = async (conversationId: number, during: () => Promise<void>) => {
    const holder = new pg.Client({ connectionString: database.settings.url });
    await holder.connect();
    try {
      await holder.query(`alter database ${databaseName()} set lock_timeout = '200ms'`);
      await holder.query("begin");
      await holder.query("select id from conversations where id = $1 for update", [conversationId]);
      await during();
    } finally {
      await holder.query("rollback");
      await holder.end();
    }
  };
  /** A sync the lock stops: the integration failed, nothing stored after its first message, the cursor still there. */
  const expectStoppedAfterFirst = async (integrationId: number) => {
    const stopped = await sync(integrationId);
    expect(stopped).toMatchObject({ messagesImported: 0, messagesSetAside: 0, integrations: { failed: 1 } });
    expect(stopped.failures[0]!.reason).toMatch(/database unavailable.*lock timeout.*55P03/);
    expect(await storedUids(integrationId)).toEqual([1]);
    expect((await readCursor(database.db, { integrationId, folder: "INBOX" }))!.lastUid).toBe(1);
  };

  it("stops the folder before a message whose conversation stays locked, sets nothing aside, and imports it on the next run", async () => {
    const mailbox = await createMailbox();
    const first = rawMail({ from: "Alice <alice@client.test>", subject: "Chantier rue Haute", messageId: "first@client.test", date: new Date(Date.now() - DAY_MS) });
    await mailbox.append(first);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    expect((await sync(integrationId)).messagesImported).toBe(1);
    const [conversation] = await database.db.select().from(conversations).where(eq(conversations.integrationId, integrationId));
    await mailbox.appendAll([
      { raw: rawMail({ from: "Alice <alice@client.test>", subject: "Re: Chantier rue Haute", headers: { "In-Reply-To": "<first@client.test>" } }) },
      { raw: rawMail({ from: "Bruno <bruno@other.test>", subject: "Autre demande" }) },
    ]);

    await whileLocked(conversation!.id, () => expectStoppedAfterFirst(integrationId));

    const resumed = await sync(integrationId);

    expect(resumed).toMatchObject({ messagesImported: 2, messagesSetAside: 0, integrations: { succeeded: 1 } });
    expect(await storedUids(integrationId)).toEqual([1, 2, 3]);
    expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId))).toEqual([]);
    const [reply] = await database.db.select().from(inboxMessages).where(and(eq(inboxMessages.integrationId, integrationId), eq(inboxMessages.uid, 2)));
    expect(reply!.conversationId).toBe(conversation!.id);
  });

  it("stops the folder when a batch's rows fail while the next batch is being prepared, and imports both on the next run", async () => {
    const mailbox = await createMailbox();
    await mailbox.append(rawMail({ from: "Alice <alice@client.test>", subject: "Devis cuisine", messageId: "devis@client.test", date: new Date(Date.now() - DAY_MS) }));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    expect((await sync(integrationId)).messagesImported).toBe(1);
    const [conversation] = await database.db.select().from(conversations).where(eq(conversations.integrationId, integrationId));
    // A first batch (cut by its number of messages) holding a reply to the locked conversation, and a second one.
    const others = Array.from({ length: BATCH_MAX_MESSAGES }, (_, i) => ({ raw: rawMail({ from: `Client ${i} <c${i}@other.test>`, subject: `Demande ${i}` }) }));
    await mailbox.appendAll([
      { raw: rawMail({ from: "Alice <alice@client.test>", subject: "Re: Devis cuisine", headers: { "In-Reply-To": "<devis@client.test>" } }) },
      ...others,
    ]);

    await whileLocked(conversation!.id, () => expectStoppedAfterFirst(integrationId));

    expect(await sync(integrationId)).toMatchObject({ messagesImported: BATCH_MAX_MESSAGES + 1, messagesSetAside: 0, integrations: { succeeded: 1 } });
    expect(await storedUids(integrationId)).toEqual(Array.from({ length: BATCH_MAX_MESSAGES + 2 }, (_, i) => i + 1));
    expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId))).toEqual([]);
  });

  function databaseName(): string {
    return new URL(database.settings.url).pathname.slice(1);
  }
});
