import { describe, expect, it } from "vitest";
import { conversations, followupHistory, followups, inboxMessages } from "../../lib/db/schema.js";
import { findConversation, referencedIdsOf, type ThreadingKeys } from "../../lib/inbox/thread.js";
import { DRIVERS, useDatabase } from "../support/databases.js";
import { createCompanyWithMailbox, type TestMailboxRow } from "./message-kit.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const march = new Date("2025-03-01T10:00:00Z");

describe.each(DRIVERS)("findConversation through %s", (driver) => {
  const database = useDatabase(driver);

  /** A conversation holding one message from `from`, dated `date`. */
  async function conversationWith(mailbox: TestMailboxRow, message: { from: string; subjectKey: string; date: Date; messageId?: string }) {
    const [conversation] = await database.db
      .insert(conversations)
      .values({ companyId: mailbox.companyId, subject: message.subjectKey, subjectKey: message.subjectKey, lastMessageAt: message.date })
      .returning({ id: conversations.id });
    if (!conversation) throw new Error("no conversation");
    await database.db.insert(inboxMessages).values({
      conversationId: conversation.id,
      fromEmail: message.from,
      externalId: message.messageId ? `<${message.messageId}>` : null,
      dedupeKey: message.messageId ?? `generated:${Math.random()}`,
      integrationId: mailbox.id,
      createdAt: message.date,
    });
    return conversation.id;
  }

  const keys = (extra: Partial<ThreadingKeys>): ThreadingKeys => ({
    referencedIds: [], subjectKey: "", correspondentAddress: "jean@client.example", date: march, ...extra,
  });

  it("finds the conversation of the message named by In-Reply-To", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const id = await conversationWith(mailbox, { from: "jean@client.example", subjectKey: "devis", date: march, messageId: "Orig-1@client.example" });
    expect(await findConversation(database.db, mailbox.companyId, keys({ referencedIds: ["Orig-1@client.example"] }))).toBe(id);
  });

  it("prefers In-Reply-To, then the newest References entry", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const older = await conversationWith(mailbox, { from: "a@client.example", subjectKey: "a", date: march, messageId: "old@client.example" });
    const newer = await conversationWith(mailbox, { from: "a@client.example", subjectKey: "b", date: march, messageId: "new@client.example" });
    const referenced = referencedIdsOf({ inReplyTo: [], references: ["old@client.example", "new@client.example"] });
    expect(await findConversation(database.db, mailbox.companyId, keys({ referencedIds: referenced }))).toBe(newer);
    const answering = referencedIdsOf({ inReplyTo: ["old@client.example"], references: ["old@client.example", "new@client.example"] });
    expect(await findConversation(database.db, mailbox.companyId, keys({ referencedIds: answering }))).toBe(older);
  });

  it("threads a reply to a follow-up the company sent, whichever way its Message-ID was recorded", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const id = await conversationWith(mailbox, { from: "contact@lokario.example", subjectKey: "facture", date: march });
    const [followup] = await database.db.insert(followups).values({ companyId: mailbox.companyId, type: "Facture impayée" }).returning({ id: followups.id });
    if (!followup) throw new Error("no followup");
    await database.db.insert(followupHistory).values([
      { followupId: followup.id, companyId: mailbox.companyId, conversationId: id, messageId: "<relance-1@lokario.example>" },
      { followupId: followup.id, companyId: mailbox.companyId, conversationId: id, messageId: "relance-2@lokario.example" },
      { followupId: followup.id, companyId: mailbox.companyId, conversationId: null, messageId: "<relance-3@lokario.example>" },
    ]);
    for (const ref of ["relance-1@lokario.example", "relance-2@lokario.example"]) {
      expect(await findConversation(database.db, mailbox.companyId, keys({ referencedIds: [ref] }))).toBe(id);
    }
    expect(await findConversation(database.db, mailbox.companyId, keys({ referencedIds: ["relance-3@lokario.example"] }))).toBeNull();
  });

  it("never threads into another company's conversation, even on a shared Message-ID", async () => {
    const other = await createCompanyWithMailbox(database.db, "Other company");
    await conversationWith(other, { from: "jean@client.example", subjectKey: "devis", date: march, messageId: "shared@client.example" });
    const mailbox = await createCompanyWithMailbox(database.db);
    expect(await findConversation(database.db, mailbox.companyId, keys({ referencedIds: ["shared@client.example"], subjectKey: "devis" }))).toBeNull();
  });

  it("threads by subject key and sender address, ignoring the address's case", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const id = await conversationWith(mailbox, { from: "Jean@Client.example", subjectKey: "devis cuisine", date: march });
    const later = new Date(march.getTime() + 59 * DAY_MS);
    expect(await findConversation(database.db, mailbox.companyId, keys({ subjectKey: "devis cuisine", correspondentAddress: "jean@client.EXAMPLE", date: later }))).toBe(id);
  });

  it("does not thread by subject when another sender wrote it", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await conversationWith(mailbox, { from: "jean@client.example", subjectKey: "devis cuisine", date: march });
    expect(await findConversation(database.db, mailbox.companyId, keys({ subjectKey: "devis cuisine", correspondentAddress: "paul@client.example" }))).toBeNull();
  });

  it("does not thread by subject after 60 days", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await conversationWith(mailbox, { from: "jean@client.example", subjectKey: "devis cuisine", date: march });
    const tooLate = new Date(march.getTime() + 61 * DAY_MS);
    expect(await findConversation(database.db, mailbox.companyId, keys({ subjectKey: "devis cuisine", date: tooLate }))).toBeNull();
  });

  it("never threads messages without a subject together", async () => {
    const mailbox = await createCompanyWithMailbox(database.db);
    await conversationWith(mailbox, { from: "jean@client.example", subjectKey: "", date: march });
    expect(await findConversation(database.db, mailbox.companyId, keys({ subjectKey: "" }))).toBeNull();
  });
});
