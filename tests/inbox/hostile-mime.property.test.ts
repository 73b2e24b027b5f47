// Generated broken mail (deep nesting, thousands of parts, huge headers, bogus charsets and
// transfer encodings, NUL bytes, missing boundaries, truncation) through the real import path.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxMessages, inboxQuarantine } from "../../lib/db/schema.js";
import { MAX_CONTENT_CHARS } from "../../lib/inbox/message-content.js";
import { storeMessage } from "../../lib/inbox/store-message.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration } from "../support/mailbox.js";
import { bufferedLogger, createCompanyWithMailbox, createTempStorage, incoming, type TempStorage } from "./message-kit.js";

const now = new Date("2025-02-10T12:00:00Z");

interface HostileMessage {
  raw: Buffer;
  /** The readable sentence the message carries in a text part the reader must find, or null. */
  text: string | null;
}

const charsetLabel = fc.constantFrom("utf-8", "x-unknown-foo", "utf-7", "", "\u0000", "iso-8859-1", "base64", "koi8-r");
const transferEncoding = fc.constantFrom("7bit", "8bit", "quoted-printable", "base64", "x-uuencode", "bogus", "");
const boundaryName = fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,30}$/);
const hugeHeader = fc.oneof(
  fc.constant(""),
  fc.integer({ min: 1, max: 1_300_000 }).map((n) => `X-Huge: ${"h".repeat(n)}\r\n`),
  fc.integer({ min: 1, max: 60_000 }).map((n) => Array.from({ length: n }, (_, i) => `X-Many-${i}: v\r\n`).join("")),
);
const junk = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("latin1"));

/** One leaf part: an attachment, a text in a bogus charset, or junk bytes with NULs. */
const leafPart = fc.oneof(
  fc.tuple(transferEncoding, junk).map(([cte, body]) => `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f.bin\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}`),
  fc.tuple(charsetLabel, transferEncoding, junk).map(([cs, cte, body]) => `Content-Type: text/plain; charset="${cs}"\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}`),
  junk.map((body) => `\u0000Content-Type: \u0000\r\n\r\n\u0000${body}`),
);

/** A multipart body of leaves and nested multiparts, nesting up to `depth` levels. */
function multipartOf(depth: number): fc.Arbitrary<string> {
  const child = depth > 0 ? fc.oneof({ weight: 3, arbitrary: leafPart }, { weight: 1, arbitrary: fc.constant(null).chain(() => multipartOf(depth - 1)) }) : leafPart;
  return fc.tuple(boundaryName, fc.array(child, { maxLength: 4 }), fc.boolean()).map(([b, parts, closed]) =>
    `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n${parts.map((p) => `--${b}\r\n${p}\r\n`).join("")}${closed ? `--${b}--\r\n` : ""}`);
}

/** Parts a sender's bug or an attacker adds after the readable text. */
const hostileTail = fc.oneof(
  multipartOf(3),
  // thousands of parts
  fc.tuple(fc.integer({ min: 400, max: 3000 }), leafPart).map(([n, p]) => `Content-Type: multipart/mixed; boundary=m\r\n\r\n${`--m\r\n${p}\r\n`.repeat(n)}--m--\r\n`),
  // deep nesting, closed or not
  fc.tuple(fc.integer({ min: 30, max: 1500 }), fc.boolean()).map(([n, closed]) => {
    let body = "";
    for (let i = 0; i < n; i++) body += `Content-Type: multipart/mixed; boundary="d${i}"\r\n\r\n--d${i}\r\n`;
    body += "Content-Type: text/plain\r\n\r\nau fond\r\n";
    if (closed) for (let i = n - 1; i >= 0; i--) body += `--d${i}--\r\n`;
    return body;
  }),
  // a multipart without a boundary, or whose parts use another one
  fc.constant("Content-Type: multipart/alternative\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n"),
  fc.constant("Content-Type: multipart/alternative; boundary=nope\r\n\r\n--other\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n"),
);

const hostileMessage: fc.Arbitrary<HostileMessage> = fc
  .record({
    header: hugeHeader,
    topCharset: charsetLabel,
    hasText: fc.boolean(),
    word: fc.stringMatching(/^[a-z]{4,12}$/),
    tail: hostileTail,
    /** Where the message is cut, as a fraction of what follows the text part (1: not cut). */
    cutAt: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
    nul: fc.boolean(),
  })
  .map(({ header, topCharset, hasText, word, tail, cutAt, nul }) => {
    const text = hasText ? `Bonjour, ceci est le message lisible ${word}.` : null;
    const head = `From: Client <client@example.test>\r\nSubject: hostile ${word}${nul ? "\u0000" : ""}\r\n${header}` +
      `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="top"; charset="${topCharset}"\r\n\r\n`;
    const first = text ? `--top\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n` : "";
    const rest = `--top\r\n${tail}\r\n--top--\r\n`;
    const kept = rest.slice(0, Math.floor(rest.length * cutAt));
    return { raw: Buffer.concat([Buffer.from(head + first, "latin1"), Buffer.from(kept, "latin1")]), text };
  });

describe("hostile MIME through the import", () => {
  const database = useDatabase("pglite");
  let temp: TempStorage;
  const logged = bufferedLogger();

  beforeAll(async () => {
    temp = await createTempStorage();
  });
  afterAll(async () => {
    await temp.remove();
  });

  it("stores every generated message, with its readable text, and keeps the stored content bounded", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await fc.assert(
      fc.asyncProperty(hostileMessage, async ({ raw, text }) => {
        const outcome = await storeMessage(database.db, incoming(mailbox, raw), {
          now, storage: temp.storage, maxAttachmentBytes: 1024 * 1024, log: logged.log,
        });
        expect(outcome.status).toBe("stored");
        if (outcome.status !== "stored") return;
        const [row] = await database.db.select().from(inboxMessages).where(eq(inboxMessages.id, outcome.messageId));
        if (text) expect(row?.content).toContain(text);
        expect(row?.content?.length ?? 0).toBeLessThanOrEqual(MAX_CONTENT_CHARS + 200);
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it("imports the text of a message of 3,000 parts behind a 1 MB header without the heap growing unboundedly", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const parts = "--m\r\nContent-Type: application/octet-stream\r\n\r\nAAAA\r\n".repeat(3000);
    const raw = Buffer.from(`From: a@example.test\r\nSubject: big\r\nX-Huge: ${"h".repeat(1024 * 1024)}\r\n` +
      `Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nLe texte.\r\n${parts}--m--\r\n`);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const outcome = await storeMessage(database.db, incoming(mailbox, raw), {
      now, storage: temp.storage, maxAttachmentBytes: 1024 * 1024, log: logged.log,
    });
    gc?.();
    const grown = process.memoryUsage().heapUsed - before;
    expect(outcome.status).toBe("stored");
    if (outcome.status !== "stored") return;
    const [row] = await database.db.select().from(inboxMessages).where(eq(inboxMessages.id, outcome.messageId));
    expect(row?.content).toBe("Le texte.");
    // Generous: without gc exposed this also counts garbage; unbounded parsing costs hundreds of MB.
    expect(grown).toBeLessThan(20 * raw.length + 64 * 1024 * 1024);
  }, 60_000);
});

describe("hostile MIME through the IMAP sync", () => {
  const database = useDatabase("pglite");
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-hostile-"));


  it("never fails the run: each generated message is stored or set aside with a reason", async () => {
    const messages = fc.sample(hostileMessage, 5);
    const mailbox = await createMailbox();
    const uids = await mailbox.appendAll(messages.map(({ raw }) => ({ raw })));
    const { integrationId } = await insertIntegration(database.db, mailbox);

    const summary = await runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir }),
      log: createLogger("test", { level: "silent" }),
      trigger: "test",
      now: () => now,
    });

    expect(summary).toMatchObject({ failures: [] });
    const stored = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
    const setAside = await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId));
    for (const [i, uid] of uids.entries()) {
      const row = stored.find((m) => m.uid === uid);
      const aside = setAside.find((q) => q.uid === uid);
      expect(row !== undefined || (aside?.reason ?? "") !== "").toBe(true);
      const text = messages[i]?.text;
      if (row && text) expect(row.content).toContain(text);
    }
  }, 120_000);
});
