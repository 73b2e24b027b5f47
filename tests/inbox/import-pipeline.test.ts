import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxMessages, inboxQuarantine } from "../../lib/db/schema.js";
import { BATCH_MAX_BYTES, BATCH_MAX_MESSAGES } from "../../lib/inbox/mail-source.js";
import { readCursor } from "../../lib/inbox/imap/cursor.js";
import { readAhead } from "../../lib/inbox/read-ahead.js";
import { imapSource } from "../../lib/inbox/imap/imap-source.js";
import { type MailboxSyncContext, READ_AHEAD, syncMailbox } from "../../lib/inbox/sync-mailbox.js";
import type { Budget } from "../../lib/jobs/budget.js";
import { type ClaimedIntegration, claimDueIntegrations } from "../../lib/inbox/claim-integrations.js";
import { createLogger, silentLogger } from "../../lib/log.js";
import { withImap } from "../../lib/mail/imap.js";
import { createLocalStorage } from "../../lib/storage/attachment-storage.js";
import { TEST_ENCRYPTION_KEY, TEST_MAIL_HOST_POLICY } from "../support/config.js";
import { refuseMessagesFrom, useDatabase } from "../support/databases.js";
import { startFaultProxy } from "../support/fault-proxy.js";
import { createMailbox, insertIntegration, rawMail, type TestMailbox } from "../support/mailbox.js";

/** A budget that runs out after `checks` questions, so a test can stop a sync between two batches. */
function budgetFor(checks: number): Budget {
  let asked = 0;
  return {
    budgetMs: 25_000,
    remainingMs: () => (asked < checks ? 25_000 : 0),
    isExhausted: () => ++asked > checks,
    signal: new AbortController().signal,
  };
}

const roomy = (): Budget => budgetFor(10_000);

/** A mail with one attachment of `bytes` random-looking bytes (base64 in the source). */
function mailWithAttachment(i: number, bytes: number): string {
  const data = Buffer.alloc(bytes, i % 251).toString("base64").replace(/.{76}/g, "$&\r\n");
  return rawMail({
    subject: `Pièce jointe ${i}`,
    headers: { "Content-Type": `multipart/mixed; boundary="b${i}"` },
    body: `--b${i}\r\nContent-Type: text/plain\r\n\r\nVoici.\r\n--b${i}\r\nContent-Type: application/pdf; name="p${i}.pdf"\r\n` +
      `Content-Disposition: attachment; filename="p${i}.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${data}\r\n--b${i}--`,
  });
}

describe("reading ahead of a slower consumer", () => {
  it("holds at most one item beyond its byte bound, and gives every item once, in order", async () => {
    let made = 0;
    async function* produce() {
      for (let i = 0; i < 20; i++) {
        made++;
        yield { i, bytes: 3 };
      }
    }
    const ahead = readAhead(produce(), (item) => item.bytes, { maxBytes: 7, maxItems: 100 });
    const seen: number[] = [];
    for await (const item of ahead) {
      // A slow consumer: the producer has all the time it wants to run ahead.
      for (let k = 0; k < 20; k++) await new Promise((resolve) => setImmediate(resolve));
      expect(made - item.i - 1).toBeLessThanOrEqual(3);
      seen.push(item.i);
    }
    await ahead.close();
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(ahead.peakQueuedBytes).toBeLessThanOrEqual(7 + 3);
  });

  it("makes nothing while the consumer holds an item over its byte bound, and one large item at a time", async () => {
    // Sizes in MB of the batches a folder gives: small ones, then large messages, each alone.
    const sizes = [3, 3, 23, 23, 3, 23, 3];
    let made = 0;
    async function* produce() {
      for (const [i, bytes] of sizes.entries()) {
        made++;
        yield { i, bytes };
      }
    }
    const ahead = readAhead(produce(), (item) => item.bytes, { maxBytes: 8, maxItems: 1 });
    for await (const item of ahead) {
      for (let k = 0; k < 20; k++) await new Promise((resolve) => setImmediate(resolve));
      // Held: the item in hand and what was made after it (waiting, or being made).
      const held = sizes.slice(item.i, made).reduce((a, b) => a + b, 0);
      if (item.bytes > 8) expect(made).toBe(item.i + 1);
      expect(held).toBeLessThanOrEqual(item.bytes > 8 ? item.bytes : 8 + 23);
      expect(sizes.slice(item.i, made).filter((b) => b > 8).length).toBeLessThanOrEqual(1);
    }
    await ahead.close();
    expect(made).toBe(sizes.length);
  });

  it("holds no more items than its count bound, however small they are", async () => {
    let made = 0;
    async function* produce() {
      for (let i = 0; i < 10; i++) {
        made++;
        yield i;
      }
    }
    const ahead = readAhead(produce(), () => 1, { maxBytes: 1000, maxItems: 1 });
    for await (const item of ahead) {
      for (let k = 0; k < 20; k++) await new Promise((resolve) => setImmediate(resolve));
      // The item in hand, the one waiting, and the producer's next step at most.
      expect(made - item - 1).toBeLessThanOrEqual(2);
    }
    await ahead.close();
    expect(ahead.peakQueuedBytes).toBe(1);
  });

  it("gives what was made before the producer failed, then its failure", async () => {
    async function* produce() {
      yield 1;
      yield 2;
      throw new Error("connection lost");
    }
    const ahead = readAhead(produce(), () => 1, { maxBytes: 100, maxItems: 100 });
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const item of ahead) seen.push(item);
      })(),
    ).rejects.toThrow("connection lost");
    await ahead.close();
    expect(seen).toEqual([1, 2]);
  });

  it("waits, when closed, for the step the producer is in before returning", async () => {
    let isStepDone = false;
    let release: () => void = () => {};
    async function* produce() {
      yield 1;
      await new Promise<void>((resolve) => (release = resolve));
      isStepDone = true;
      yield 2;
    }
    const ahead = readAhead(produce(), () => 1, { maxBytes: 100, maxItems: 100 });
    for await (const item of ahead) {
      expect(item).toBe(1);
      break;
    }
    const closing = ahead.close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(isStepDone).toBe(false);
    release();
    await closing;
    expect(isStepDone).toBe(true);
  });
});

describe("a pipelined import of one folder", () => {
  const database = useDatabase("pg");

  const claimed = new Map<number, ClaimedIntegration>();
  const syncWith = async (mailbox: TestMailbox, integrationId: number, options: { budget: Budget; port?: number; logLines?: string[]; storageDir: string }) => {
    if (!claimed.has(integrationId)) {
      const [row] = await claimDueIntegrations(database.db, { owner: "run-1", leaseMs: 60_000, limit: 1, now: new Date(), integrationId });
      claimed.set(integrationId, row!);
    }
    const integration = claimed.get(integrationId);
    const target = { ...integration!, imapPort: options.port ?? mailbox.dovecot.port };
    const log = options.logLines ? createLogger("test", { level: "debug", sink: (line) => options.logLines!.push(line) }) : silentLogger;
    return withImap(target, { keys: { encryptionKey: TEST_ENCRYPTION_KEY }, connectTimeoutMs: 5_000, commandTimeoutMs: 1_000, log: silentLogger, hostPolicy: TEST_MAIL_HOST_POLICY }, ({ client }) => {
      const ctx: MailboxSyncContext = {
        db: database.db, source: imapSource(client), log, integration: integration!, owner: "run-1", now: () => new Date(),
        budget: options.budget, reserveMs: 0, storage: createLocalStorage(options.storageDir), maxMessageBytes: 20_000_000, maxAttachmentBytes: 20_000_000,
      };
      return syncMailbox(ctx, { path: "INBOX", direction: "inbound" });
    });
  };
  const uidsOf = async (integrationId: number) =>
    (await database.db.select({ uid: inboxMessages.uid }).from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.uid)).map((r) => r.uid);

  it("keeps the downloaded mail waiting to be stored within its bound on a mailbox of large messages", async () => {
    const mailbox = await createMailbox();
    await mailbox.appendAll(Array.from({ length: 8 }, (_, i) => ({ raw: mailWithAttachment(i, 2_500_000) })));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const logLines: string[] = [];
    const storageDir = mkdtempSync(join(tmpdir(), "lokario-pipeline-"));

    expect(await syncWith(mailbox, integrationId, { budget: roomy(), logLines, storageDir })).toMatchObject({ imported: 8, hasMore: false });

    const line = logLines.map((l) => JSON.parse(l) as { msg: string; peakQueuedBytes?: number }).find((l) => l.msg === "folder downloaded ahead");
    // One batch waits at most, and a batch holds 4 MB at most (these messages are under it).
    expect(line?.peakQueuedBytes).toBeGreaterThan(0);
    expect(line!.peakQueuedBytes).toBeLessThanOrEqual(READ_AHEAD.maxItems * BATCH_MAX_BYTES);
    expect(await uidsOf(integrationId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("imports everything exactly once on the next run when the budget cuts it between batches", async () => {
    const mailbox = await createMailbox();
    // Small mail: batches are cut by their number of messages.
    const total = 2 * BATCH_MAX_MESSAGES + 5;
    await mailbox.appendAll(Array.from({ length: total }, (_, i) => ({ raw: rawMail({ subject: `Demande ${i}` }) })));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const storageDir = mkdtempSync(join(tmpdir(), "lokario-pipeline-"));

    // Checks: before the round, before batches 1 and 2, before the next one → it is not started.
    const cut = await syncWith(mailbox, integrationId, { budget: budgetFor(3), storageDir });
    expect(cut).toMatchObject({ imported: 2 * BATCH_MAX_MESSAGES, hasMore: true });
    expect(await syncWith(mailbox, integrationId, { budget: roomy(), storageDir })).toMatchObject({ imported: 5, duplicates: 0, hasMore: false });
    expect(await uidsOf(integrationId)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  it("imports everything exactly once on the next run when the connection stalls in the middle of the pipeline", async () => {
    const mailbox = await createMailbox();
    const sources = Array.from({ length: 12 }, (_, i) => mailWithAttachment(i, 650_000));
    await mailbox.appendAll(sources.map((raw) => ({ raw })));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const storageDir = mkdtempSync(join(tmpdir(), "lokario-pipeline-"));
    const proxy = await startFaultProxy(mailbox.dovecot.port);
    try {
      // Messages of about 900 KB: the first batch is cut by its bytes (9 of them); stall inside the second.
      const messageBytes = Buffer.byteLength(sources[0]!);
      const firstBatch = Math.min(BATCH_MAX_MESSAGES, Math.floor(BATCH_MAX_BYTES / messageBytes));
      proxy.stallAfter(Math.round((firstBatch + 1.5) * messageBytes));
      await expect(syncWith(mailbox, integrationId, { budget: roomy(), port: proxy.port, storageDir })).rejects.toThrow();
      const partial = await uidsOf(integrationId);
      expect(partial).toEqual(Array.from({ length: firstBatch }, (_, i) => i + 1));
      // The batch prepared before the stall is written, and the cursor moved past it, before the folder stops.
      expect((await readCursor(database.db, { integrationId, folder: "INBOX" }))!.lastUid).toBe(firstBatch);
      proxy.heal();
      const resumed = await syncWith(mailbox, integrationId, { budget: roomy(), port: proxy.port, storageDir });
      expect(resumed).toMatchObject({ imported: 12 - partial.length, setAside: 0, hasMore: false });
    } finally {
      await proxy.close();
    }
    expect(await uidsOf(integrationId)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId))).toEqual([]);
  });

  it("writes the rows of consecutive batches cut by their bytes in one transaction", async () => {
    const mailbox = await createMailbox();
    // About 2 MB each: two per downloaded batch; their sources are given back once parsed.
    await mailbox.appendAll(Array.from({ length: 6 }, (_, i) => ({ raw: mailWithAttachment(i, 1_500_000) })));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const storageDir = mkdtempSync(join(tmpdir(), "lokario-pipeline-"));

    expect(await syncWith(mailbox, integrationId, { budget: roomy(), storageDir })).toMatchObject({ imported: 6, hasMore: false });
    const rows = await database.db
      .select({ uid: inboxMessages.uid, transaction: sql<string>`${inboxMessages}.xmin::text` })
      .from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
    expect(rows.map((r) => r.uid).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(rows.map((r) => r.transaction)).size).toBe(1);
    expect(Math.ceil((6 * Buffer.byteLength(mailWithAttachment(0, 1_500_000))) / BATCH_MAX_BYTES)).toBeGreaterThan(1);
  });

  it("sets aside with its bytes a message whose rows are refused after its download was given back, and stores the rest", async () => {
    const mailbox = await createMailbox();
    // Over 64 KB: its source is given back once parsed, and must be downloaded again to be set aside.
    const refused = mailWithAttachment(3, 300_000).replace("From: Client Test <client@example.test>", "From: Refusé <refused@pipeline.test>");
    const others = Array.from({ length: 5 }, (_, i) => mailWithAttachment(i, 300_000));
    await mailbox.appendAll([...others.slice(0, 3), refused, ...others.slice(3)].map((raw) => ({ raw })));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const storageDir = mkdtempSync(join(tmpdir(), "lokario-pipeline-"));
    const undoRefusal = await refuseMessagesFrom(database.db, "refused@pipeline.test");
    try {
      expect(await syncWith(mailbox, integrationId, { budget: roomy(), storageDir })).toMatchObject({ imported: 5, setAside: 1, hasMore: false });
    } finally {
      await undoRefusal();
    }

    expect(await uidsOf(integrationId)).toEqual([1, 2, 3, 5, 6]);
    const [aside] = await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId));
    expect(aside).toMatchObject({ uid: 4, reason: expect.stringMatching(/inbox_messages/) });
    expect(readFileSync(join(storageDir, aside!.rawPath!), "utf8")).toBe(refused);
    expect((await readCursor(database.db, { integrationId, folder: "INBOX" }))!.lastUid).toBe(6);
  });

  it("stores a message repeated in one batch once, without its copy overwriting the attachment first stored", async () => {
    const mailbox = await createMailbox();
    const first = mailWithAttachment(1, 1000).replace(/Message-ID: <[^>]+>/, "Message-ID: <same@example.test>");
    const copy = mailWithAttachment(2, 1000).replace(/Message-ID: <[^>]+>/, "Message-ID: <same@example.test>").replace('filename="p2.pdf"', 'filename="p1.pdf"');
    await mailbox.appendAll([{ raw: first }, { raw: copy }]);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const storageDir = mkdtempSync(join(tmpdir(), "lokario-pipeline-"));

    expect(await syncWith(mailbox, integrationId, { budget: roomy(), storageDir })).toMatchObject({ imported: 1, duplicates: 1 });
    const rows = await database.db.query.messageAttachments.findMany();
    const stored = rows.find((r) => r.name === "p1.pdf" && r.filePath?.includes(`attachments/${integrationId}/`));
    expect(readFileSync(join(storageDir, stored!.filePath!))).toEqual(Buffer.alloc(1000, 1));
  });

  it("stores a message repeated at the start of the next batch once, without its copy overwriting the attachment first stored", async () => {
    const mailbox = await createMailbox();
    const first = mailWithAttachment(1, 1000).replace(/Message-ID: <[^>]+>/, "Message-ID: <same-across@example.test>");
    const copy = mailWithAttachment(2, 1000).replace(/Message-ID: <[^>]+>/, "Message-ID: <same-across@example.test>").replace('filename="p2.pdf"', 'filename="p1.pdf"');
    // The first ends a batch (cut by its number of messages), the copy starts the next, which is
    // prepared while the first batch's rows are being written.
    const before = Array.from({ length: BATCH_MAX_MESSAGES - 1 }, (_, i) => ({ raw: rawMail({ subject: `Demande ${i}` }) }));
    await mailbox.appendAll([...before, { raw: first }, { raw: copy }]);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const storageDir = mkdtempSync(join(tmpdir(), "lokario-pipeline-"));

    expect(await syncWith(mailbox, integrationId, { budget: roomy(), storageDir })).toMatchObject({ imported: BATCH_MAX_MESSAGES, duplicates: 1 });
    const rows = await database.db.query.messageAttachments.findMany();
    const stored = rows.find((r) => r.name === "p1.pdf" && r.filePath?.includes(`attachments/${integrationId}/`));
    expect(readFileSync(join(storageDir, stored!.filePath!))).toEqual(Buffer.alloc(1000, 1));
  });
});
