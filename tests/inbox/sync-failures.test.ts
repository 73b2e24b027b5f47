import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxIntegrations, inboxMessages, inboxQuarantine } from "../../lib/db/schema.js";
import { BATCH_MAX_MESSAGES } from "../../lib/inbox/mail-source.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { createLocalStorage } from "../../lib/storage/attachment-storage.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { createMailbox, insertIntegration, rawMail, type TestMailbox } from "../support/mailbox.js";

const MINUTE_MS = 60_000;
const CORPUS_DIR = new URL("../fixtures/corpus/spamscope/", import.meta.url);

describe("inbox sync: hostile mail, broken servers, wrong settings", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let clockMs: number;
  let logLines: string[];
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-sync-failures-"));


  const startClock = () => {
    clockMs = Date.now();
    logLines = [];
  };
  const later = (minutes: number) => {
    clockMs += minutes * MINUTE_MS;
  };
  const sync = (env: Record<string, string> = {}) =>
    runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir, LOG_LEVEL: "debug", ...env }),
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
  const messagesOf = (integrationId: number) =>
    database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.uid);
  const quarantineOf = (integrationId: number) =>
    database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId)).orderBy(inboxQuarantine.uid);
  const integrationRow = async (id: number) =>
    (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;

  it("imports only the newest initial_sync_max_messages of the window on a first sync", async () => {
    startClock();
    const mailbox = await createMailbox();
    await mailbox.appendAll(Array.from({ length: 5 }, (_, i) => ({ raw: rawMail({ subject: `Message ${i + 1}` }) })));
    const { integrationId } = await insertIntegration(database.db, mailbox, { values: { initialSyncMaxMessages: 3 } });

    expect((await sync()).messagesImported).toBe(3);
    expect((await messagesOf(integrationId)).map((m) => m.uid)).toEqual([3, 4, 5]);
  });

  it("stores mail without a Message-ID, and a message delivered twice only once", async () => {
    startClock();
    const mailbox = await createMailbox();
    const twice = rawMail({ subject: "Envoyé deux fois", messageId: "same-id@example.test" });
    await mailbox.appendAll([
      { raw: rawMail({ subject: "Sans identifiant A", messageId: null }) },
      { raw: twice },
      { raw: rawMail({ subject: "Sans identifiant B", messageId: null }) },
      { raw: twice },
    ]);
    const { integrationId } = await insertIntegration(database.db, mailbox);

    const summary = await sync();

    expect(summary).toMatchObject({ messagesImported: 3, messagesSetAside: 0 });
    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => m.uid)).toEqual([1, 2, 3]);
    expect(messages.filter((m) => m.externalId === null || m.externalId === "")).toHaveLength(2);
    expect(new Set(messages.map((m) => m.dedupeKey)).size).toBe(3);
  });

  it("stores or sets aside, with a reason, every message of the spamscope corpus, and still imports the mail after them", async () => {
    startClock();
    const mailbox = await createMailbox();
    const files = readdirSync(CORPUS_DIR).filter((f) => f.endsWith(".eml")).sort();
    const uids = await mailbox.appendAll(files.map((f) => ({ raw: readFileSync(new URL(f, CORPUS_DIR)) })));
    const normalUid = await mailbox.append(rawMail({ subject: "Après le corpus" }));
    const { integrationId } = await insertIntegration(database.db, mailbox);

    const summary = await sync({ RUN_BUDGET_MS: "120000" });

    expect(summary.integrations).toMatchObject({ succeeded: 1, failed: 0 });
    const stored = new Set((await messagesOf(integrationId)).map((m) => m.uid));
    const setAside = await quarantineOf(integrationId);
    for (const uid of uids) {
      const aside = setAside.find((q) => q.uid === uid);
      expect(stored.has(uid) || (aside !== undefined && aside.reason.length > 0), `corpus message with UID ${uid}`).toBe(true);
    }
    expect(stored.has(normalUid)).toBe(true);
    expect(summary.messagesImported + summary.messagesSetAside).toBe(uids.length + 1);
  });

  it("sets aside a message that cannot be stored, keeping its raw bytes, and imports the next one", async () => {
    startClock();
    const mailbox = await createMailbox();
    const garbage = Buffer.from("\u0001 this is not an e-mail at all \u0002\r\n");
    await mailbox.appendAll([{ raw: garbage }, { raw: rawMail({ subject: "Normal" }) }]);
    const { integrationId } = await insertIntegration(database.db, mailbox);

    const summary = await sync();

    expect(summary).toMatchObject({ messagesImported: 1, messagesSetAside: 1, integrations: { succeeded: 1 } });
    expect((await messagesOf(integrationId)).map((m) => m.uid)).toEqual([2]);
    const [aside] = await quarantineOf(integrationId);
    expect(aside).toMatchObject({ uid: 1, folder: "INBOX", attempts: 1 });
    expect(aside!.reason).toMatch(/not an e-mail/);
    const raw = await streamToBuffer(createLocalStorage(attachmentsDir).open(aside!.rawPath!));
    expect(raw.equals(garbage)).toBe(true);
  });

  it("keeps only the headers and a placeholder of a message over MAX_MESSAGE_BYTES, and imports the mail after it", async () => {
    startClock();
    const mailbox = await createMailbox();
    const big = rawMail({ subject: "Très gros message", body: "x".repeat(60_000) });
    await mailbox.appendAll([{ raw: rawMail({ subject: "Petit 1" }) }, { raw: big }, { raw: rawMail({ subject: "Petit 2" }) }]);
    const { integrationId } = await insertIntegration(database.db, mailbox);

    const summary = await sync({ MAX_MESSAGE_BYTES: "20000" });

    expect(summary).toMatchObject({ messagesImported: 3, messagesSetAside: 0 });
    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => m.uid)).toEqual([1, 2, 3]);
    const oversize = messages[1]!;
    expect(oversize.content).toMatch(/trop volumineux/);
    expect(oversize.content).not.toContain("xxxx");
    expect(oversize.sizeBytes).toBeGreaterThan(60_000);
    expect(oversize.externalMetadata).toMatchObject({ isOversize: true });
  });

  it("records a wrong password as an auth error, while another mailbox syncs in the same run", async () => {
    startClock();
    const good = await createMailbox();
    const bad = await createMailbox();
    await good.append(rawMail({ subject: "Pour le bon compte" }));
    await bad.append(rawMail({ subject: "Jamais lu" }));
    const wrongPassword = "definitely-wrong-4b1e";
    const badIntegration = await insertIntegration(database.db, bad, { password: wrongPassword });
    const goodIntegration = await insertIntegration(database.db, good);

    const summary = await sync();

    expect(summary).toMatchObject({ integrations: { attempted: 2, succeeded: 1, failed: 1 }, messagesImported: 1 });
    expect(summary.failures).toEqual([{ integrationId: badIntegration.integrationId, reason: expect.stringMatching(/login refused/) }]);
    expect(JSON.stringify(summary)).not.toContain(wrongPassword);
    expect(logLines.join("\n")).not.toContain(wrongPassword);
    const row = await integrationRow(badIntegration.integrationId);
    expect(row).toMatchObject({ lastSyncStatus: "error", consecutiveFailures: 1, authFailures: 1, leaseOwner: null });
    expect(row.nextSyncAt!.getTime()).toBe(clockMs + 30 * MINUTE_MS);
    expect((await messagesOf(goodIntegration.integrationId)).length).toBe(1);
  });

  describe("a server that stalls in the middle of a download", () => {
    let proxy: FaultProxy;
    let mailbox: TestMailbox;
    beforeAll(async () => {
      mailbox = await createMailbox();
      proxy = await startFaultProxy(mailbox.dovecot.port);
    });
    afterAll(async () => {
      await proxy.close();
    });

    it("ends the run within its budget (socket timeout), and the next run completes the import without duplicates", async () => {
      startClock();
      // A first batch of small mail, then the server stalls inside the large message of the second.
      const small = Array.from({ length: BATCH_MAX_MESSAGES }, (_, i) => rawMail({ subject: `Avant ${i}` }));
      await mailbox.appendAll([
        ...small.map((raw) => ({ raw })),
        { raw: rawMail({ subject: "Volumineux", body: "y".repeat(400_000) }) },
        { raw: rawMail({ subject: "Après 1" }) },
      ]);
      const { integrationId } = await insertIntegration(database.db, mailbox, { port: proxy.port });
      proxy.stallAfter(bytesOf(small) + 40_000);
      const env = { RUN_BUDGET_MS: "6000", IMAP_COMMAND_TIMEOUT_MS: "800", IMAP_CONNECT_TIMEOUT_MS: "2000" };

      const startedMs = Date.now();
      const stalled = await sync(env);
      expect(Date.now() - startedMs).toBeLessThan(6_000);
      expect(stalled).toMatchObject({ integrations: { attempted: 1, failed: 1 }, messagesImported: BATCH_MAX_MESSAGES });
      expect(stalled.failures[0]!.reason).toMatch(/stopped answering/);
      expect(await integrationRow(integrationId)).toMatchObject({ lastSyncStatus: "error", consecutiveFailures: 1, leaseOwner: null });

      proxy.heal();
      later(10);
      expect(await sync(env)).toMatchObject({ integrations: { succeeded: 1 }, messagesImported: 2 });
      later(10);
      expect((await sync(env)).messagesImported).toBe(0);
      const messages = await messagesOf(integrationId);
      expect(messages.map((m) => m.uid)).toEqual(Array.from({ length: BATCH_MAX_MESSAGES + 2 }, (_, i) => i + 1));
      expect(await integrationRow(integrationId)).toMatchObject({ lastSyncStatus: "success", consecutiveFailures: 0 });
    });

    it("counts a run cut at its budget after importing some mail as work left, not as a failure", async () => {
      startClock();
      const slow = await createMailbox();
      const slowProxy = await startFaultProxy(slow.dovecot.port);
      try {
        const small = Array.from({ length: BATCH_MAX_MESSAGES }, (_, i) => rawMail({ subject: `Petit ${i}` }));
        await slow.appendAll([...small.map((raw) => ({ raw })), { raw: rawMail({ subject: "Lent", body: "w".repeat(400_000) }) }]);
        const { integrationId } = await insertIntegration(database.db, slow, { port: slowProxy.port });
        slowProxy.stallAfter(bytesOf(small) + 40_000);
        const summary = await sync({ RUN_BUDGET_MS: "3000", IMAP_COMMAND_TIMEOUT_MS: "60000" });
        expect(summary).toMatchObject({ integrations: { failed: 0, succeeded: 1 }, messagesImported: BATCH_MAX_MESSAGES, remaining: true });
        const row = await integrationRow(integrationId);
        expect(row).toMatchObject({ lastSyncStatus: "success", consecutiveFailures: 0, leaseOwner: null });
        expect(row.nextSyncAt!.getTime()).toBeLessThanOrEqual(clockMs);
      } finally {
        await slowProxy.close();
      }
    });

    it("cuts the session at the run budget when the command timeout is longer than the budget", async () => {
      startClock();
      const other = await createMailbox();
      const otherProxy = await startFaultProxy(other.dovecot.port);
      try {
        await other.appendAll([{ raw: rawMail({ subject: "Gros", body: "z".repeat(400_000) }) }]);
        const { integrationId } = await insertIntegration(database.db, other, { port: otherProxy.port });
        otherProxy.stallAfter(20_000);
        const startedMs = Date.now();
        const summary = await sync({ RUN_BUDGET_MS: "3000", IMAP_COMMAND_TIMEOUT_MS: "60000" });
        // The session is cut 300 ms before the 3 s budget; the rest is recording the result.
        expect(Date.now() - startedMs).toBeLessThan(3_800);
        expect(summary.failures).toEqual([{ integrationId, reason: expect.stringMatching(/budget/) }]);
        expect(await integrationRow(integrationId)).toMatchObject({ leaseOwner: null, lastSyncStatus: "error" });
      } finally {
        await otherProxy.close();
      }
    });
  });

  it("stops a folder whose UIDVALIDITY changes on three syncs in a row, and says why", async () => {
    startClock();
    const mailbox = await createMailbox();
    await mailbox.append(rawMail({ subject: "Stable" }));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    await sync();
    let validity = await mailbox.uidValidity();
    for (const expected of ["success", "success", "error"]) {
      validity += 10;
      await mailbox.setUidValidity(validity);
      later(61);
      await sync();
      expect((await integrationRow(integrationId)).lastSyncStatus).toBe(expected);
    }
    const row = await integrationRow(integrationId);
    expect(row.lastSyncError).toMatch(/UIDVALIDITY of INBOX changed on 3 syncs in a row/);
    expect((await messagesOf(integrationId)).length).toBe(1);
  });
});

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** What the server sends of `sources` (their bytes, before any protocol framing). */
function bytesOf(sources: string[]): number {
  return sources.reduce((sum, source) => sum + Buffer.byteLength(source), 0);
}
