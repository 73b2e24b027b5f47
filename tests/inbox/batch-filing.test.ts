// A downloaded batch is threaded in memory before its rows are written: the conversations it
// leaves must be those that importing the same messages one per run leaves (threading onto a
// message of the same batch, by headers or by subject, status, unread count, latest date, client).

import { eq } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, CONVERSATION_STATUS, conversations, followupHistory, followups, inboxMessages } from "../../lib/db/schema.js";
import type { DownloadedBatch } from "../../lib/inbox/mail-source.js";
import { type BatchImportContext, type BatchTally, importBatch } from "../../lib/inbox/import-batch.js";
import { silentLogger } from "../../lib/log.js";
import { DRIVERS, type TestDatabase, useDatabase } from "../support/databases.js";
import { buildEml, createCompanyWithMailbox, createTempStorage, type EmlParts, type TestMailboxRow } from "./message-kit.js";

const now = new Date("2025-06-10T12:00:00Z");
const where = { folder: "INBOX", direction: "inbound" as const, uidValidity: 1 };
const DAY_MS = 24 * 60 * 60 * 1000;
const CLIENT_ADDRESS = "jean@client.example";

interface Mail {
  uid: number;
  source: Buffer;
}

/** A company with a mailbox and one client (`CLIENT_ADDRESS`). */
interface Company {
  mailbox: TestMailboxRow;
  clientId: number;
}

/** What the tests of a describe build on `database`, the describe's own. */
async function withDatabase(database: TestDatabase) {
  const temp = await createTempStorage();
  const contextFor = (mailbox: TestMailboxRow): BatchImportContext => ({
    db: database.db, integration: { id: mailbox.id, companyId: mailbox.companyId, emailAddress: mailbox.emailAddress, connectedAt: mailbox.connectedAt },
    storage: temp.storage, now: () => now, maxAttachmentBytes: 1024 * 1024, log: silentLogger,
  });
  const createCompany = async (): Promise<Company> => {
    const mailbox = await createCompanyWithMailbox(database.db);
    const [client] = await database.db.insert(clients).values({ companyId: mailbox.companyId, name: "Jean", email: CLIENT_ADDRESS }).returning({ id: clients.id });
    return { mailbox, clientId: client!.id };
  };
  const importAsOneBatch = async (company: Company, mails: Mail[], isBackfill = false) => {
    const batch: DownloadedBatch = {
      messages: mails.map(({ uid, source }) => ({ uid, sizeBytes: source.length, internalDate: null, source, isOversize: false })),
      isBackfill, position: mails.at(-1)?.uid ?? 0, bytes: mails.reduce((sum, m) => sum + m.source.length, 0),
    };
    const tally: BatchTally = { imported: 0, duplicates: 0, setAside: 0 };
    await importBatch(contextFor(company.mailbox), where, batch, tally);
    return tally;
  };
  const importOnePerRun = async (company: Company, mails: Mail[], isBackfill = false) => {
    const total: BatchTally = { imported: 0, duplicates: 0, setAside: 0 };
    for (const mail of mails) {
      const tally = await importAsOneBatch(company, [mail], isBackfill);
      for (const key of ["imported", "duplicates", "setAside"] as const) total[key] += tally[key];
    }
    return total;
  };
  /** Per message (UID order): its conversation, named by order of first appearance, and that conversation's row. */
  const filing = async (company: Company) => {
    const rows = await database.db
      .select({ uid: inboxMessages.uid, conversation: conversations })
      .from(inboxMessages)
      .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
      .where(eq(inboxMessages.integrationId, company.mailbox.id))
      .orderBy(inboxMessages.uid);
    const names = new Map<number, number>();
    return rows.map(({ uid, conversation: c }) => {
      if (!names.has(c.id)) names.set(c.id, names.size);
      return {
        uid, conversation: names.get(c.id), subject: c.subject, subjectKey: c.subjectKey, status: c.status, unreadCount: c.unreadCount,
        lastMessageAt: c.lastMessageAt?.toISOString() ?? null, client: c.clientId === company.clientId ? "client" : c.clientId,
      };
    });
  };
  return { database, temp, createCompany, importAsOneBatch, importOnePerRun, filing };
}

describe.each(DRIVERS)("a batch threaded in memory, through %s", (driver) => {
  const database = useDatabase(driver);
  let env: Awaited<ReturnType<typeof withDatabase>>;
  beforeAll(async () => {
    env = await withDatabase(database);
  });
  afterAll(async () => {
    await env.temp.remove();
  });

  it("files replies and same-subject mail onto conversations of the same batch and of a previous run, as one run per message would", async () => {
    const previous: Mail[] = [
      { uid: 1, source: buildEml({ from: "paul@client.example", subject: "Chantier garage", date: "Mon, 20 Jan 2025 09:00:00 +0000", messageId: "<p1@client.example>" }) },
    ];
    const batch: Mail[] = [
      { uid: 2, source: buildEml({ from: CLIENT_ADDRESS, subject: "Devis cuisine", date: "Mon, 03 Feb 2025 10:00:00 +0000", messageId: "<m1@client.example>" }) },
      { uid: 3, source: buildEml({ from: "marie@client.example", subject: "Facture 12", date: "Mon, 03 Feb 2025 11:00:00 +0000", messageId: "<m2@client.example>" }) },
      // The business answers message 1 (its own address in INBOX): the conversation is answered.
      { uid: 4, source: buildEml({ from: "contact@lokario.example", to: CLIENT_ADDRESS, subject: "Re: Devis cuisine", date: "Mon, 03 Feb 2025 12:00:00 +0000", messageId: "<m3@lokario.example>", inReplyTo: "<m1@client.example>" }) },
      // No threading headers: the subject and the sender thread it onto message 2's new conversation.
      { uid: 5, source: buildEml({ from: "Marie@Client.example", subject: "RE: Facture 12", date: "Tue, 04 Feb 2025 08:00:00 +0000", messageId: "<m4@client.example>" }) },
      // Onto the conversation of a previous run, by subject.
      { uid: 6, source: buildEml({ from: "paul@client.example", subject: "Re: Chantier garage", date: "Wed, 05 Feb 2025 08:00:00 +0000", messageId: "<m5@client.example>" }) },
      // Older than the business's answer, in the same thread: waits for an answer again, latest date unchanged.
      { uid: 7, source: buildEml({ from: CLIENT_ADDRESS, subject: "Re: Devis cuisine", date: "Mon, 03 Feb 2025 11:30:00 +0000", references: "<m1@client.example>", messageId: "<m6@client.example>" }) },
      // An auto-reply answering message 6: unread, status unchanged.
      { uid: 8, source: buildEml({ from: "paul@client.example", subject: "Absence", date: "Thu, 06 Feb 2025 08:00:00 +0000", inReplyTo: "<m5@client.example>", headers: ["Auto-Submitted: auto-replied"] }) },
    ];
    const atOnce = await env.createCompany();
    const oneByOne = await env.createCompany();
    await env.importOnePerRun(atOnce, previous);
    await env.importOnePerRun(oneByOne, previous);

    expect(await env.importAsOneBatch(atOnce, batch)).toEqual({ imported: 7, duplicates: 0, setAside: 0 });
    await env.importOnePerRun(oneByOne, batch);

    const filed = await env.filing(atOnce);
    expect(filed).toEqual(await env.filing(oneByOne));
    const byUid = new Map(filed.map((f) => [f.uid, f]));
    expect(filed.map((f) => f.conversation)).toEqual([0, 1, 2, 1, 2, 0, 1, 0]);
    expect(byUid.get(2)).toMatchObject({ status: CONVERSATION_STATUS.toAnswer, unreadCount: 2, lastMessageAt: "2025-02-03T12:00:00.000Z", client: "client" });
    expect(byUid.get(3)).toMatchObject({ status: CONVERSATION_STATUS.toAnswer, unreadCount: 2, lastMessageAt: "2025-02-04T08:00:00.000Z", client: null });
    expect(byUid.get(1)).toMatchObject({ status: CONVERSATION_STATUS.toAnswer, unreadCount: 3, lastMessageAt: "2025-02-06T08:00:00.000Z" });
  });

  it("answers a message of the batch and settles its conversation when the answer is the latest message", async () => {
    const batch: Mail[] = [
      { uid: 1, source: buildEml({ from: CLIENT_ADDRESS, subject: "Question", date: "Mon, 03 Feb 2025 10:00:00 +0000", messageId: "<q1@client.example>" }) },
      // Another subject: only its In-Reply-To threads it.
      { uid: 2, source: buildEml({ from: "contact@lokario.example", to: CLIENT_ADDRESS, subject: "Votre demande", date: "Mon, 03 Feb 2025 11:00:00 +0000", inReplyTo: "<q1@client.example>" }) },
    ];
    const atOnce = await env.createCompany();
    const oneByOne = await env.createCompany();
    await env.importAsOneBatch(atOnce, batch);
    await env.importOnePerRun(oneByOne, batch);

    const filed = await env.filing(atOnce);
    expect(filed).toEqual(await env.filing(oneByOne));
    expect(filed.map((f) => [f.conversation, f.status, f.unreadCount])).toEqual([[0, CONVERSATION_STATUS.answered, 1], [0, CONVERSATION_STATUS.answered, 1]]);
  });
});

// Random small mailboxes: a previous run, then a batch, imported at once or one message per run.
// Senders differ in case, subjects in reply prefixes, dates straddle the 60-day window and tie,
// references point back, forward (not yet imported), to a follow-up sent, or nowhere; one message
// may be the Sent copy of that follow-up (its Message-ID: a duplicate, never stored again).
const SENDERS = [CLIENT_ADDRESS, "Jean@Client.example", "marie@client.example", "contact@lokario.example"];
const SUBJECTS = ["Devis", "Re: Devis", "RE : devis", "Facture", ""];
const DAY_OFFSETS = [0, 0, 1, 30, 59, 61, 90, 125];
const FOLLOWUP_MESSAGE_ID = "relance-1@lokario.example";

const mailArbitrary = fc.record({
  sender: fc.constantFrom(...SENDERS),
  recipient: fc.constantFrom(CLIENT_ADDRESS, "marie@client.example"),
  subject: fc.constantFrom(...SUBJECTS),
  dayOffset: fc.constantFrom(...DAY_OFFSETS),
  messageId: fc.constantFrom("own", "own", "own", "none", "followup"),
  /** Indexes of messages (previous run first, then the batch) it answers; -1: the follow-up. */
  references: fc.array(fc.integer({ min: -1, max: 12 }), { maxLength: 2 }),
  isAutoReply: fc.boolean(),
});
type RandomMail = typeof mailArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** The Message-ID of each message of `all` (null: none); only the first "followup" one is the follow-up's copy. */
function messageIdsOf(all: RandomMail[]): (string | null)[] {
  const firstCopy = all.findIndex((m) => m.messageId === "followup");
  return all.map((m, k) => (m.messageId === "none" ? null : k === firstCopy ? FOLLOWUP_MESSAGE_ID : `m${k}@client.example`));
}

function mailsOf(all: RandomMail[], from: number, to: number): Mail[] {
  const ids = messageIdsOf(all);
  const idOf = (k: number) => (k < 0 ? FOLLOWUP_MESSAGE_ID : ids[k] ?? `unknown-${k}@client.example`);
  return all.slice(from, to).map((m, i) => {
    const index = from + i;
    const date = new Date(Date.UTC(2025, 0, 1) + m.dayOffset * DAY_MS);
    const [reply, ...older] = m.references.map((k) => `<${idOf(k)}>`);
    const parts: EmlParts = {
      from: m.sender, to: m.recipient, subject: m.subject, date: date.toUTCString(),
      messageId: ids[index] === null ? null : `<${ids[index]}>`,
      inReplyTo: reply, references: older.length ? older.join(" ") : undefined,
      headers: m.isAutoReply ? ["Auto-Submitted: auto-replied"] : [],
      body: `Message ${index}`,
    };
    return { uid: index + 1, source: buildEml(parts) };
  });
}

const mail = (sender: string, subject: string, dayOffset: number, references: number[] = []): RandomMail => ({
  sender, recipient: CLIENT_ADDRESS, subject, dayOffset, messageId: "own", references, isAutoReply: false,
});
/**
 * Two conversations of one subject and sender, 61 days apart, whose latest messages tie (the first
 * one's by a reply): a message between them goes to the newer conversation (the higher id), when
 * both are of the batch and when the older one is stored.
 */
const TIED_CONVERSATIONS: [RandomMail[], RandomMail[], boolean][] = [
  [[], [mail(CLIENT_ADDRESS, "Devis", 0), mail(CLIENT_ADDRESS, "Devis", 61), mail("marie@client.example", "Facture", 61, [0]), mail(CLIENT_ADDRESS, "Devis", 30)], false],
  [[mail(CLIENT_ADDRESS, "Devis", 0)], [mail(CLIENT_ADDRESS, "Devis", 61), mail("marie@client.example", "Facture", 61, [0]), mail(CLIENT_ADDRESS, "Devis", 30)], false],
];

describe("a batch threaded in memory, against one message per run", () => {
  const database = useDatabase("pg");
  let env: Awaited<ReturnType<typeof withDatabase>>;
  beforeAll(async () => {
    env = await withDatabase(database);
  });
  afterAll(async () => {
    await env.temp.remove();
  });

  it("leaves the same conversations for any small set of messages", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(mailArbitrary, { maxLength: 3 }),
        fc.array(mailArbitrary, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (previousSpec, batchSpec, isPreviousBackfill) => {
          const all = [...previousSpec, ...batchSpec];
          const previous = mailsOf(all, 0, previousSpec.length);
          const batch = mailsOf(all, previousSpec.length, all.length);
          const atOnce = await env.createCompany();
          const oneByOne = await env.createCompany();
          for (const company of [atOnce, oneByOne]) {
            await env.importOnePerRun(company, previous, isPreviousBackfill);
            await recordFollowupSent(company);
          }
          const tally = await env.importAsOneBatch(atOnce, batch);
          expect(tally).toEqual(await env.importOnePerRun(oneByOne, batch));
          expect(tally.setAside).toBe(0);
          expect(await env.filing(atOnce)).toEqual(await env.filing(oneByOne));
        },
      ),
      { numRuns: 40, examples: TIED_CONVERSATIONS },
    );
  });

  /** A follow-up sent in the conversation of the company's first message, when there is one. */
  async function recordFollowupSent(company: Company): Promise<void> {
    const [first] = await env.database.db
      .select({ conversationId: inboxMessages.conversationId })
      .from(inboxMessages).where(eq(inboxMessages.integrationId, company.mailbox.id)).orderBy(inboxMessages.uid).limit(1);
    if (!first) return;
    const [followup] = await env.database.db.insert(followups).values({ companyId: company.mailbox.companyId, type: "Facture impayée" }).returning({ id: followups.id });
    await env.database.db.insert(followupHistory).values({
      followupId: followup!.id, companyId: company.mailbox.companyId, conversationId: first.conversationId, messageId: `<${FOLLOWUP_MESSAGE_ID}>`,
    });
  }
});
