import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { buffer } from "node:stream/consumers";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, CONVERSATION_STATUS, conversations, followupHistory, followups, inboxMessages, messageAttachments } from "../../lib/db/schema.js";
import { JobError } from "../../lib/errors.js";
import { MAX_CONTENT_CHARS } from "../../lib/inbox/message-content.js";
import { attachmentKeyPrefix } from "../../lib/inbox/save-attachment.js";
import type { IncomingMessage } from "../../lib/inbox/incoming-message.js";
import { type StoreDeps, storeMessage } from "../../lib/inbox/store-message.js";
import { DRIVERS, useDatabase } from "../support/databases.js";
import {
  buildEml, bufferedLogger, CORPUS_DIR, createCompanyWithMailbox, createTempStorage, incoming, readFixture,
  type TempStorage, type TestMailboxRow,
} from "./message-kit.js";

const now = new Date("2025-02-10T12:00:00Z");

describe.each(DRIVERS)("storeMessage through %s", (driver) => {
  const database = useDatabase(driver);
  let temp: TempStorage;
  const logged = bufferedLogger();
  const deps = (extra: Partial<StoreDeps> = {}): StoreDeps => ({
    now, storage: temp.storage, maxAttachmentBytes: 1024 * 1024, log: logged.log, ...extra,
  });
  const store = (message: IncomingMessage, extra: Partial<StoreDeps> = {}) => storeMessage(database.db, message, deps(extra));
  const stored = async (message: IncomingMessage, extra: Partial<StoreDeps> = {}) => {
    const outcome = await store(message, extra);
    if (outcome.status !== "stored") throw new Error("expected the message to be stored");
    return outcome;
  };
  const messagesOf = (mailbox: TestMailboxRow) =>
    database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, mailbox.id));
  const conversationsOf = (mailbox: TestMailboxRow) =>
    database.db.select().from(conversations).where(eq(conversations.companyId, mailbox.companyId));

  beforeAll(async () => {
    temp = await createTempStorage();
  });
  afterAll(async () => {
    await temp.remove();
  });

  it("files new inbound mail as an unread 'À répondre' conversation matched to its client", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const [client] = await database.db.insert(clients)
      .values({ companyId: mailbox.companyId, name: "Jean Martin", email: "JEAN.MARTIN@client.example" }).returning();
    const outcome = await stored(incoming(mailbox, await readFixture("reply-in-reply-to.eml")));

    const [conversation] = await conversationsOf(mailbox);
    expect(conversation).toMatchObject({
      id: outcome.conversationId, clientId: client?.id, status: CONVERSATION_STATUS.toAnswer, unreadCount: 1,
      subject: "RE : Devis DEV-2025-023", subjectKey: "devis dev-2025-023", source: "email",
      lastMessageAt: new Date("2025-01-27T08:30:00Z"),
    });
    const [message] = await messagesOf(mailbox);
    expect(message).toMatchObject({
      id: outcome.messageId, fromName: "Jean Martin", fromEmail: "Jean.Martin@Client.example",
      content: "C'est d'accord pour le devis.", source: "email", isFromClient: true, read: false,
      externalId: "<reply-1@client.example>", dedupeKey: "reply-1@client.example", createdAt: new Date("2025-01-27T08:30:00Z"),
      isAutoReply: false, isBounce: false, isBackfill: false, folder: "INBOX",
    });
    expect(message?.externalMetadata).toMatchObject({
      to: [{ name: null, address: "contact@lokario.example" }],
      inReplyTo: ["devis-dev-2025-023@lokario.example"],
      references: ["first-contact@client.example", "devis-dev-2025-023@lokario.example"],
      isAutoReply: false, isBounce: false, autoSubmitted: null,
    });
    expect(JSON.stringify(message?.externalMetadata)).not.toContain("d'accord");
  });

  it("creates no client for an unknown sender", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await stored(incoming(mailbox, buildEml({ from: "inconnu@nowhere.example" })));
    expect((await conversationsOf(mailbox))[0]?.clientId).toBeNull();
    expect(await database.db.select().from(clients).where(eq(clients.companyId, mailbox.companyId))).toEqual([]);
  });

  it("stores the same message once when it is imported twice", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const message = incoming(mailbox, buildEml());
    expect((await store(message)).status).toBe("stored");
    expect(await store(message)).toEqual({ status: "duplicate" });
    expect(await messagesOf(mailbox)).toHaveLength(1);
  });

  it("stores one row and one conversation when five runs store the same message at once", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const message = incoming(mailbox, await readFixture("attachments-pdf-image.eml"));
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => store(message)));
    expect(outcomes.filter((o) => o.status === "stored")).toHaveLength(1);
    expect(await messagesOf(mailbox)).toHaveLength(1);
    expect(await conversationsOf(mailbox)).toHaveLength(1);
    const [row] = await messagesOf(mailbox);
    expect(await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, row?.id ?? -1))).toHaveLength(2);
  });

  it("recognizes a message seen again under a new UIDVALIDITY by its Message-ID", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const source = buildEml({ messageId: "<Same-Id@Client.example>" });
    await stored(incoming(mailbox, source, { uidValidity: 1, uid: 10 }));
    expect(await store(incoming(mailbox, source, { uidValidity: 2, uid: 1 }))).toEqual({ status: "duplicate" });
  });

  it("stores a message without Message-ID once, under a generated key, even under two UIDs", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const source = await readFixture("missing-message-id.eml");
    await stored(incoming(mailbox, source));
    expect(await store(incoming(mailbox, source))).toEqual({ status: "duplicate" });
    const rows = await messagesOf(mailbox);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.dedupeKey).toMatch(/^generated:[0-9a-f]{64}$/);
    expect(rows[0]?.externalId).toBeNull();
    await stored(incoming(mailbox, buildEml({ messageId: null, body: "Un autre document." })));
  });

  it("threads a reply by its headers, reopens the conversation and counts it unread", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const first = await stored(incoming(mailbox, buildEml({ messageId: "<devis-dev-2025-023@lokario.example>", subject: "Devis DEV-2025-023", date: "Fri, 24 Jan 2025 09:00:00 +0100" })));
    await database.db.update(conversations).set({ status: CONVERSATION_STATUS.answered }).where(eq(conversations.id, first.conversationId));
    const reply = await stored(incoming(mailbox, await readFixture("reply-in-reply-to.eml")));
    const newSubject = await stored(incoming(mailbox, await readFixture("outlook-new-subject.eml")));
    expect([reply.conversationId, newSubject.conversationId]).toEqual([first.conversationId, first.conversationId]);
    const [conversation] = await conversationsOf(mailbox);
    expect(conversation).toMatchObject({ status: CONVERSATION_STATUS.toAnswer, unreadCount: 3, lastMessageAt: new Date("2025-01-28T09:00:00Z") });
  });

  it("keeps last_message_at at the newest date when an older message arrives later", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const newer = await stored(incoming(mailbox, buildEml({ messageId: "<n@client.example>", date: "Mon, 03 Feb 2025 10:00:00 +0000" })));
    await stored(incoming(mailbox, buildEml({ inReplyTo: "<n@client.example>", date: "Sat, 01 Feb 2025 10:00:00 +0000" })));
    const [conversation] = await database.db.select().from(conversations).where(eq(conversations.id, newer.conversationId));
    expect(conversation?.lastMessageAt).toEqual(new Date("2025-02-03T10:00:00Z"));
  });

  it("threads a client's answer to a follow-up into the follow-up's conversation", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const [conversation] = await database.db.insert(conversations)
      .values({ companyId: mailbox.companyId, subject: "Facture FAC-2025-014", status: CONVERSATION_STATUS.waiting }).returning();
    const [followup] = await database.db.insert(followups).values({ companyId: mailbox.companyId, type: "Facture impayée" }).returning();
    await database.db.insert(followupHistory).values({
      followupId: followup?.id ?? -1, companyId: mailbox.companyId, conversationId: conversation?.id, messageId: "<relance-fac-2025-014-step-1@lokario.example>",
    });
    const answer = await stored(incoming(mailbox, buildEml({ subject: "Votre relance", inReplyTo: "<relance-fac-2025-014-step-1@lokario.example>" })));
    expect(answer.conversationId).toBe(conversation?.id);
  });

  it("threads by subject and sender, but not another sender's mail with the same subject", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const first = await stored(incoming(mailbox, buildEml({ subject: "Carrelage salle de bain", date: "Mon, 03 Feb 2025 10:00:00 +0000" })));
    const again = await stored(incoming(mailbox, buildEml({ subject: "RE: Carrelage salle de bain", from: "JEAN.MARTIN@client.example", date: "Tue, 04 Feb 2025 10:00:00 +0000" })));
    const other = await stored(incoming(mailbox, buildEml({ subject: "Re: Carrelage salle de bain", from: "paul@client.example", date: "Tue, 04 Feb 2025 11:00:00 +0000" })));
    expect(again.conversationId).toBe(first.conversationId);
    expect(other.conversationId).not.toBe(first.conversationId);
  });

  it("stores attachments readable back through the storage, with their size and kind", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const outcome = await stored(incoming(mailbox, await readFixture("attachments-pdf-image.eml")));
    const rows = await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, outcome.messageId)).orderBy(messageAttachments.id);
    expect(rows.map(({ name, fileType, fileSize, mimeType, contentId, isStored }) => ({ name, fileType, fileSize, mimeType, contentId, isStored }))).toEqual([
      { name: "Facture FAC-2025-014.pdf", fileType: "pdf", fileSize: 48, mimeType: "application/pdf", contentId: null, isStored: true },
      { name: "photo châssis.png", fileType: "image", fileSize: 70, mimeType: "image/png", contentId: "photo-1@client.example", isStored: true },
    ]);
    const pdf = await buffer(temp.storage.open(rows[0]?.filePath ?? ""));
    expect(pdf.length).toBe(48);
    expect(pdf.subarray(0, 8).toString()).toBe("%PDF-1.4");
  });

  it("stores a 3 MB attachment and reads back the same bytes", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const content = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 31 + (i >> 9)) % 256));
    const base64 = content.toString("base64").replace(/.{76}/g, "$&\r\n");
    const source = Buffer.from(
      "From: a@client.example\r\nSubject: Plans\r\nMessage-ID: <plans-3mb@client.example>\r\n" +
        'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nVoici les plans.\r\n' +
        '--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="plans.pdf"\r\n' +
        `Content-Transfer-Encoding: base64\r\n\r\n${base64}\r\n--m--\r\n`,
    );
    const outcome = await stored(incoming(mailbox, source), { maxAttachmentBytes: 10 * 1024 * 1024 });
    const [row] = await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, outcome.messageId));
    expect(row).toMatchObject({ name: "plans.pdf", fileSize: content.length, isStored: true });
    expect((await buffer(temp.storage.open(row?.filePath ?? ""))).equals(content)).toBe(true);
  });

  it("records a large base64 attachment over the size limit without keeping a file of it", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const content = Buffer.alloc(2 * 1024 * 1024, 9);
    const source = Buffer.from(
      "From: a@client.example\r\nSubject: Archive\r\nMessage-ID: <archive-2mb@client.example>\r\n" +
        'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nL\'archive.\r\n' +
        '--m\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename="archive.zip"\r\n' +
        `Content-Transfer-Encoding: base64\r\n\r\n${content.toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n--m--\r\n`,
    );
    const outcome = await stored(incoming(mailbox, source), { maxAttachmentBytes: 1024 * 1024 });
    const rows = await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, outcome.messageId));
    expect(rows.map((r) => [r.name, r.isStored, r.fileSize, r.filePath])).toEqual([["archive.zip", false, content.length, null]]);
    const folder = join(temp.dir, attachmentKeyPrefix(mailbox.id, "archive-2mb@client.example"));
    expect(await listFiles(folder).catch(() => [])).toEqual([]);
  });

  it("records an attachment over the size limit without keeping its content", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const outcome = await stored(incoming(mailbox, await readFixture("attachments-pdf-image.eml")), { maxAttachmentBytes: 60 });
    const rows = await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, outcome.messageId)).orderBy(messageAttachments.id);
    expect(rows.map((r) => [r.name, r.isStored, r.fileSize, r.filePath === null])).toEqual([
      ["Facture FAC-2025-014.pdf", true, 48, false],
      ["photo châssis.png", false, 70, true],
    ]);
    const folder = join(temp.dir, attachmentKeyPrefix(mailbox.id, "attachments@client.example"));
    expect((await listFiles(folder)).map((f) => relative(folder, f))).toEqual(["0-Facture_FAC-2025-014.pdf"]);
  });

  it("keeps hostile attachment names inside the storage directory", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const outcome = await stored(incoming(mailbox, await readFixture("hostile-attachment-name.eml")));
    const rows = await database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, outcome.messageId));
    expect(rows.map((r) => r.name).sort()).toEqual(["authorized_keys", "passwd", "win.ini"]);
    for (const row of rows) {
      const file = resolve(temp.dir, row.filePath ?? "");
      expect(relative(temp.dir, file).startsWith("..")).toBe(false);
      expect(existsSync(file)).toBe(true);
    }
    expect(existsSync(resolve(temp.dir, "../etc/passwd"))).toBe(false);
    expect(existsSync(resolve(temp.dir, "../../etc/passwd.tmp"))).toBe(false);
  });

  it("stores a first-sync backfill read and settled, and never reopens a conversation with it", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const old = await stored(incoming(mailbox, buildEml({ messageId: "<old@client.example>" }), { isBackfill: true }));
    const [conversation] = await conversationsOf(mailbox);
    expect(conversation).toMatchObject({ status: CONVERSATION_STATUS.resolved, unreadCount: 0 });
    const [message] = await messagesOf(mailbox);
    expect(message).toMatchObject({ read: true, isBackfill: true, isFromClient: true });
    await stored(incoming(mailbox, buildEml({ inReplyTo: "<old@client.example>", date: "Tue, 04 Feb 2025 10:00:00 +0000" }), { isBackfill: true }));
    const [after] = await database.db.select().from(conversations).where(eq(conversations.id, old.conversationId));
    expect(after).toMatchObject({ status: CONVERSATION_STATUS.resolved, unreadCount: 0, lastMessageAt: new Date("2025-02-04T10:00:00Z") });
  });

  it("stores mail sent from the mailbox's own address as read and not from the client", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const [client] = await database.db.insert(clients).values({ companyId: mailbox.companyId, name: "Jean", email: "jean.martin@client.example" }).returning();
    const question = await stored(incoming(mailbox, buildEml({ messageId: "<q@client.example>" })));
    const answer = await stored(incoming(mailbox, buildEml({ from: "Atelier <Contact@Lokario.example>", to: "jean.martin@client.example", inReplyTo: "<q@client.example>" })));
    expect(answer.conversationId).toBe(question.conversationId);
    const [conversation] = await conversationsOf(mailbox);
    expect(conversation).toMatchObject({ status: CONVERSATION_STATUS.answered, unreadCount: 1, clientId: client?.id });
    const own = (await messagesOf(mailbox)).find((m) => m.id === answer.messageId);
    expect(own).toMatchObject({ isFromClient: false, read: true });
  });

  it("stores an auto-reply unread without asking for an answer", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await stored(incoming(mailbox, await readFixture("auto-reply.eml")));
    expect((await conversationsOf(mailbox))[0]).toMatchObject({ status: CONVERSATION_STATUS.resolved, unreadCount: 1 });
    expect((await messagesOf(mailbox))[0]).toMatchObject({ isAutoReply: true, isBounce: false, read: false });
  });

  it("stores a bounce as mail needing attention, flagged", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await stored(incoming(mailbox, await readFixture("dsn-bounce.eml")));
    expect((await conversationsOf(mailbox))[0]).toMatchObject({ status: CONVERSATION_STATUS.toAnswer });
    expect((await messagesOf(mailbox))[0]).toMatchObject({ isBounce: true });
  });

  it("stores the headers of an oversize message with a placeholder body", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const full = buildEml({ subject: "Plans", messageId: "<plans@client.example>" });
    const headerOnly = full.subarray(0, full.indexOf("\r\n\r\n") + 4);
    await stored(incoming(mailbox, headerOnly, { isOversize: true, sizeBytes: 40 * 1024 * 1024 }));
    const [message] = await messagesOf(mailbox);
    expect(message?.content).toBe("[Message trop volumineux (40,0 Mo) : seul l'en-tête a été importé. Consultez-le dans votre messagerie.]");
    expect(message).toMatchObject({ externalId: "<plans@client.example>", sizeBytes: 40 * 1024 * 1024 });
    expect((await conversationsOf(mailbox))[0]?.subject).toBe("Plans");
  });

  it("cuts an absurdly long body with a note, and drops NUL characters Postgres refuses", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await stored(incoming(mailbox, buildEml({ body: `a\u0000b ${"x".repeat(MAX_CONTENT_CHARS + 10)}` })));
    const [message] = await messagesOf(mailbox);
    expect(message?.content?.startsWith("ab x")).toBe(true);
    expect(message?.content).toMatch(/\[… texte tronqué : message trop long \(\d+ caractères\)\]$/);
    expect(message?.content?.length).toBeLessThan(MAX_CONTENT_CHARS + 100);
  });

  it("refuses a binary Outlook .msg file as bad input, with a reason", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const source = await readFile(new URL("mail_outlook_1.eml", CORPUS_DIR));
    const error = await store(incoming(mailbox, source)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(JobError);
    expect(error).toMatchObject({ kind: "bad-input", message: expect.stringContaining("not an e-mail") });
    expect(await messagesOf(mailbox)).toEqual([]);
  });

  it("logs neither the body nor the subject of a stored message", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await stored(incoming(mailbox, buildEml({ subject: "Sujet confidentiel", body: "Corps confidentiel" })));
    expect(logged.lines.join("\n")).not.toMatch(/confidentiel/);
  });
});

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
