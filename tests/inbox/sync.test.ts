import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxFolderCursors, inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { createLogger } from "../../lib/log.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, DRIVERS, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

describe.each(DRIVERS)("inbox sync on Dovecot (%s)", (driver) => {
  const database = useDatabase(driver, { afterEach: deactivateIntegrations });
  let logLines: string[];
  let clockMs: number;
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-sync-"));


  const startClock = () => {
    clockMs = Date.now();
    logLines = [];
  };
  /** The business clock moves on, so the integration is due again. */
  const later = (minutes: number) => {
    clockMs += minutes * MINUTE_MS;
  };
  const sync = () =>
    runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir, LOG_LEVEL: "debug" }),
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
  const messagesOf = (integrationId: number) =>
    database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.uid);

  it("imports only the first-sync window, as backfill, and schedules the next sync", async () => {
    startClock();
    const mailbox = await createMailbox();
    const old = new Date(Date.now() - 45 * DAY_MS);
    await mailbox.appendAll([
      { raw: rawMail({ subject: "Ancien 1", date: old }), internalDate: old },
      { raw: rawMail({ subject: "Récent 1" }), internalDate: new Date(Date.now() - 2 * DAY_MS) },
      { raw: rawMail({ subject: "Ancien 2", date: old }), internalDate: old },
      { raw: rawMail({ subject: "Récent 2" }) },
    ]);
    const { integrationId } = await insertIntegration(database.db, mailbox);

    const summary = await sync();

    expect(summary).toMatchObject({
      integrations: { attempted: 1, succeeded: 1, failed: 0 },
      messagesImported: 2,
      messagesSetAside: 0,
      failures: [],
      remaining: false,
    });
    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => m.uid)).toEqual([2, 4]);
    expect(messages.every((m) => m.isBackfill)).toBe(true);
    const [integration] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    expect(integration).toMatchObject({ lastSyncStatus: "success", lastSyncError: null, consecutiveFailures: 0, leaseOwner: null });
    expect(integration!.nextSyncAt!.getTime()).toBe(clockMs + 5 * MINUTE_MS);
    const [cursor] = await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId));
    expect(cursor).toMatchObject({ folder: "INBOX", uidValidity: await mailbox.uidValidity(), lastUid: 4 });
  });

  it("picks up new mail on the next run, and a run with nothing new imports nothing", async () => {
    startClock();
    const mailbox = await createMailbox();
    await mailbox.append(rawMail({ subject: "Premier" }));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    expect((await sync()).messagesImported).toBe(1);

    await mailbox.appendAll([{ raw: rawMail({ subject: "Nouveau 1" }) }, { raw: rawMail({ subject: "Nouveau 2" }) }]);
    later(6);
    expect(await sync()).toMatchObject({ messagesImported: 2, integrations: { attempted: 1, succeeded: 1 } });
    later(6);
    expect(await sync()).toMatchObject({ messagesImported: 0, integrations: { attempted: 1, succeeded: 1 } });

    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => [m.uid, m.isBackfill])).toEqual([[1, true], [2, false], [3, false]]);
  });

  it("does not sync a mailbox again before its interval, and counts it as skipped", async () => {
    startClock();
    const mailbox = await createMailbox();
    await insertIntegration(database.db, mailbox);
    await sync();
    later(1);
    expect(await sync()).toMatchObject({ integrations: { attempted: 0, skipped: 1 }, remaining: false });
  });

  it("imports mail already read elsewhere, and leaves every flag on the server as it was", async () => {
    startClock();
    const mailbox = await createMailbox();
    await mailbox.appendAll([
      { raw: rawMail({ subject: "Lu ailleurs" }), flags: ["\\Seen"] },
      { raw: rawMail({ subject: "Jamais ouvert" }) },
      { raw: rawMail({ subject: "Important" }), flags: ["\\Flagged"] },
    ]);
    const { integrationId } = await insertIntegration(database.db, mailbox, { transport: "tls" });
    await sync();
    await mailbox.append(rawMail({ subject: "Arrivé après" }));
    await mailbox.addFlags(2, ["\\Seen"]);
    const before = await mailbox.flags();
    later(6);
    await sync();

    expect((await messagesOf(integrationId)).map((m) => m.uid)).toEqual([1, 2, 3, 4]);
    expect(await mailbox.flags()).toEqual(before);
    expect(before.get(4)).toEqual([]);
  });

  it("resyncs the recent window after a UIDVALIDITY change, without duplicating what was imported", async () => {
    startClock();
    const mailbox = await createMailbox();
    await mailbox.appendAll([{ raw: rawMail({ subject: "Un" }) }, { raw: rawMail({ subject: "Deux" }) }]);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    await sync();
    const oldValidity = await mailbox.uidValidity();

    await mailbox.setUidValidity(oldValidity + 1000);
    await mailbox.append(rawMail({ subject: "Trois" }));
    later(6);
    const summary = await sync();

    expect(summary).toMatchObject({ messagesImported: 1, integrations: { succeeded: 1 } });
    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => m.externalId).length).toBe(3);
    expect(new Set(messages.map((m) => m.dedupeKey)).size).toBe(3);
    const [cursor] = await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId));
    expect(cursor).toMatchObject({ uidValidity: oldValidity + 1000, lastUid: 3, uidValidityChanges: 1 });

    later(6);
    await sync();
    const [settled] = await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId));
    expect(settled!.uidValidityChanges).toBe(0);
  });

  it("imports each message once when two runs start at the same time", async () => {
    startClock();
    const mailbox = await createMailbox();
    await mailbox.appendAll(Array.from({ length: 6 }, (_, i) => ({ raw: rawMail({ subject: `Concurrent ${i}` }) })));
    const other = await createMailbox();
    await other.appendAll(Array.from({ length: 3 }, (_, i) => ({ raw: rawMail({ subject: `Autre ${i}` }) })));
    const first = await insertIntegration(database.db, mailbox);
    const second = await insertIntegration(database.db, other);

    const [a, b] = await Promise.all([sync(), sync()]);

    expect(a.messagesImported + b.messagesImported).toBe(9);
    expect(a.integrations.attempted + b.integrations.attempted).toBe(2);
    expect((await messagesOf(first.integrationId)).length).toBe(6);
    expect((await messagesOf(second.integrationId)).length).toBe(3);
    const rows = await database.db
      .select()
      .from(inboxIntegrations)
      .where(and(eq(inboxIntegrations.id, first.integrationId), eq(inboxIntegrations.lastSyncStatus, "success")));
    expect(rows).toHaveLength(1);
    const logged = logLines.join("\n");
    expect(logged).not.toContain(mailbox.password);
    // Debug logging included: no message content and no subject reaches a log line.
    expect(logged).not.toContain("ceci est le message");
    expect(logged).not.toContain("Concurrent 1");
  });
});
