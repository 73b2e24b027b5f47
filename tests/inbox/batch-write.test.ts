// A downloaded batch stored at once: its rows in one transaction, with the outcome of storing its
// messages one by one (threading inside the batch, a refused message set aside alone).

import { buffer } from "node:stream/consumers";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxMessages, inboxQuarantine } from "../../lib/db/schema.js";
import type { DownloadedBatch } from "../../lib/inbox/mail-source.js";
import { type BatchImportContext, type BatchTally, importBatch } from "../../lib/inbox/import-batch.js";
import { silentLogger } from "../../lib/log.js";
import { refuseMessagesFrom, useDatabase } from "../support/databases.js";
import { buildEml, createCompanyWithMailbox, createTempStorage, type TempStorage, type TestMailboxRow } from "./message-kit.js";

const now = new Date("2025-02-10T12:00:00Z");
const where = { folder: "INBOX", direction: "inbound" as const, uidValidity: 1 };

describe("a downloaded batch stored at once", () => {
  const database = useDatabase("pg");
  let temp: TempStorage;
  beforeAll(async () => {
    temp = await createTempStorage();
    await refuseMessagesFrom(database.db, "refused@client.example");
  });
  afterAll(async () => {
    await temp.remove();
  });

  const contextFor = (mailbox: TestMailboxRow): BatchImportContext => ({
    db: database.db, integration: { id: mailbox.id, companyId: mailbox.companyId, emailAddress: mailbox.emailAddress, connectedAt: mailbox.connectedAt },
    storage: temp.storage, now: () => now, maxAttachmentBytes: 1024 * 1024, log: silentLogger,
  });
  const batchOf = (sources: Buffer[]): DownloadedBatch => ({
    messages: sources.map((source, i) => ({ uid: i + 1, sizeBytes: source.length, internalDate: null, source, isOversize: false })),
    isBackfill: false, position: sources.length, bytes: sources.reduce((sum, s) => sum + s.length, 0),
  });
  const importAll = async (mailbox: TestMailboxRow, sources: Buffer[], downloadAgain?: BatchImportContext["downloadAgain"]) => {
    const tally: BatchTally = { imported: 0, duplicates: 0, setAside: 0 };
    await importBatch({ ...contextFor(mailbox), downloadAgain }, where, batchOf(sources), tally);
    return tally;
  };
  const rowsOf = (mailbox: TestMailboxRow) =>
    database.db
      .select({ uid: inboxMessages.uid, conversationId: inboxMessages.conversationId, transaction: sql<string>`${inboxMessages}.xmin::text` })
      .from(inboxMessages).where(eq(inboxMessages.integrationId, mailbox.id)).orderBy(inboxMessages.uid);

  it("writes the rows of a whole batch in one transaction", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const sources = Array.from({ length: 10 }, (_, i) => buildEml({ from: `client${i}@client.example`, subject: `Demande ${i}` }));

    expect(await importAll(mailbox, sources)).toEqual({ imported: 10, duplicates: 0, setAside: 0 });

    const rows = await rowsOf(mailbox);
    expect(rows.map((r) => r.uid)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(rows.map((r) => r.transaction)).size).toBe(1);
  });

  it("files two messages of one thread downloaded in one batch in one conversation", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const first = buildEml({ messageId: "<thread-start@client.example>", subject: "Devis cuisine" });
    const other = buildEml({ from: "autre@client.example", subject: "Autre chose" });
    const reply = buildEml({ messageId: "<thread-reply@client.example>", inReplyTo: "<thread-start@client.example>", subject: "Re: Devis cuisine" });

    expect(await importAll(mailbox, [first, other, reply])).toEqual({ imported: 3, duplicates: 0, setAside: 0 });

    const [a, b, c] = await rowsOf(mailbox);
    expect(c!.conversationId).toBe(a!.conversationId);
    expect(b!.conversationId).not.toBe(a!.conversationId);
  });

  it("sets aside exactly the message whose rows the database refuses, and stores the rest of its batch", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const sources = [
      buildEml({ messageId: "<ok-1@client.example>", subject: "Devis salle de bain" }),
      buildEml({ from: "refused@client.example", subject: "Refusé" }),
      buildEml({ inReplyTo: "<ok-1@client.example>", subject: "Re: Devis salle de bain" }),
    ];

    expect(await importAll(mailbox, sources)).toEqual({ imported: 2, duplicates: 0, setAside: 1 });

    const rows = await rowsOf(mailbox);
    expect(rows.map((r) => r.uid)).toEqual([1, 3]);
    expect(rows[1]!.conversationId).toBe(rows[0]!.conversationId);
    const aside = await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, mailbox.id));
    expect(aside.map((q) => q.uid)).toEqual([2]);
    expect(aside[0]!.reason).toMatch(/inbox_messages/);
  });

  describe("when the sources of parsed messages are given back before their rows are written", () => {
    // Over 64 KB, in memory of its own: given back once parsed.
    const largeRefused = () => buildEml({ from: "refused@client.example", subject: "Refusé", body: "Texte long. ".repeat(10_000) });

    it("downloads a refused message again to set it aside with its bytes", async () => {
      const mailbox = await createCompanyWithMailbox(database.db);
      const refused = largeRefused();
      const original = Buffer.from(refused);
      const downloads: number[] = [];
      const sources = [buildEml({ subject: "Devis 1" }), refused, buildEml({ subject: "Devis 3" })];

      const tally = await importAll(mailbox, sources, async (message) => {
        downloads.push(message.uid!);
        return Buffer.from(original);
      });

      expect(tally).toEqual({ imported: 2, duplicates: 0, setAside: 1 });
      // Given back: its memory is gone, and it was downloaded again, once.
      expect(refused.length).toBe(0);
      expect(downloads).toEqual([2]);
      const [aside] = await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, mailbox.id));
      expect(aside!.uid).toBe(2);
      expect(await buffer(temp.storage.open(aside!.rawPath!))).toEqual(original);
    });

    it("stops before a refused message it cannot download again, setting nothing aside", async () => {
      const mailbox = await createCompanyWithMailbox(database.db);
      const sources = [buildEml({ subject: "Devis 1" }), largeRefused(), buildEml({ subject: "Devis 3" })];

      await expect(importAll(mailbox, sources, () => Promise.reject(new Error("connection closed")))).rejects.toMatchObject({
        kind: "transient", message: expect.stringMatching(/downloaded again.*connection closed/),
      });

      expect((await rowsOf(mailbox)).map((r) => r.uid)).toEqual([1]);
      expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, mailbox.id))).toEqual([]);
    });
  });
});
