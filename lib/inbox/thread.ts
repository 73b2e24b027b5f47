// Finds the conversation an incoming message belongs to, in this order:
// 1. its `In-Reply-To`, then its `References` (newest first) name a message of the company — one
//    imported from a mailbox, or a follow-up the company sent (the follow-up job records the
//    Message-ID of each send, so a client's reply to a reminder lands in that conversation);
// 2. else the same subject key from the same correspondent within 60 days of the message's date
//    (what Frappe does; it catches clients whose mail program drops the threading headers); the
//    conversation with the latest message wins;
// 3. else none: the message starts a new conversation.
// An Outlook "reply with a new subject" keeps its headers, so rule 1 threads it.
//
// A downloaded batch is threaded at once: two queries gather what the database holds for all its
// messages (`findThreadingFacts`), then `chooseConversation` applies the rules to each message in
// UID order, counting the messages of the batch filed before it as if they were already stored. The
// choice is then the one filing the messages one at a time would make.

import { and, eq, inArray, sql } from "drizzle-orm";
import { type DbOrTx, rowsOf } from "../db/client.js";
import { jsonParam } from "../db/json-rows.js";
import { conversations, followupHistory, inboxMessages } from "../db/schema.js";

export const SUBJECT_THREAD_WINDOW_DAYS = 60;
/** Threads rarely run deeper; a References header can list hundreds of ids. */
const MAX_REFERENCED_IDS = 50;
const DAY_MS = 24 * 60 * 60 * 1000;
const SUBJECT_WINDOW_MS = SUBJECT_THREAD_WINDOW_DAYS * DAY_MS;

export interface ThreadingKeys {
  /** Normalized Message-IDs this message answers: In-Reply-To first, then References newest first. */
  referencedIds: string[];
  /** `subjectKey(subject)`; "" never threads by subject. */
  subjectKey: string;
  /** The other party: the sender of inbound mail, the first recipient of the company's own mail. */
  correspondentAddress: string | null;
  /** The message's own date (the 60-day window is counted from it). */
  date: Date;
}

/** A message to thread: its keys, and what its own row will say (for the messages after it). */
export interface ThreadedMessage {
  keys: ThreadingKeys;
  /** Its `external_id`: `<Message-ID>`, or null. */
  externalId: string | null;
  /** Its `from_email`. */
  fromAddress: string | null;
}

/** What the database holds about a batch's threading keys. */
export interface ThreadingFacts {
  /** Referenced id → conversation of the company's oldest imported message with that Message-ID. */
  imported: Map<string, number>;
  /** Referenced id → conversation of a follow-up the company sent with that Message-ID. */
  sent: Map<string, number>;
  /** Per message: the conversations rule 2 finds among stored messages. */
  bySubject: number[][];
  /** Per message: `lower(from_email)` as the database computes it (rule 2 compares with that). */
  fromLower: (string | null)[];
}

/** A conversation as the rules compare them; `rank` orders like the id (a new one: after every stored one). */
export interface ThreadTarget {
  subjectKey: string | null;
  rank: number;
  /** Its latest message's date, counting the batch's messages filed into it. */
  state: { lastMessageAt: Date | null };
}

/** A message of the batch filed before the one being threaded. */
export interface FiledMessage<T extends ThreadTarget> {
  conversation: T;
  externalId: string | null;
  fromLower: string | null;
  date: Date;
}

/** The ids a message refers to, most specific first: In-Reply-To, then References from the newest. */
export function referencedIdsOf(message: { inReplyTo: string[]; references: string[] }): string[] {
  return [...new Set([...message.inReplyTo, ...[...message.references].reverse()])].slice(0, MAX_REFERENCED_IDS);
}

/** Every conversation `facts` names (what a batch may file into). */
export function conversationIdsOf(facts: ThreadingFacts): number[] {
  return [...new Set([...facts.imported.values(), ...facts.sent.values(), ...facts.bySubject.flat()])];
}

/** Two queries, whatever the number of messages: the referenced ids of all, the subject candidates of all. */
export async function findThreadingFacts(tx: DbOrTx, companyId: number, messages: ThreadedMessage[]): Promise<ThreadingFacts> {
  const { imported, sent } = await findByReferences(tx, companyId, [...new Set(messages.flatMap((m) => m.keys.referencedIds))]);
  const { bySubject, fromLower } = await findBySubject(tx, companyId, messages);
  return { imported, sent, bySubject, fromLower };
}

/**
 * The conversation message `index` of the batch belongs to, among `known` ones (what the database
 * holds, as `facts` says, and what `earlier` messages of the batch were filed into); null for a new one.
 */
export function chooseConversation<T extends ThreadTarget>(
  index: number,
  keys: ThreadingKeys,
  facts: ThreadingFacts,
  earlier: FiledMessage<T>[],
  known: (conversationId: number) => T | undefined,
): T | null {
  const knownOf = (conversationId: number | undefined) => (conversationId === undefined ? undefined : known(conversationId));
  for (const id of keys.referencedIds) {
    // The oldest message with that Message-ID wins: a stored one, then one of the batch, then a follow-up.
    const found = knownOf(facts.imported.get(id)) ?? earlier.find((m) => m.externalId === `<${id}>`)?.conversation ?? knownOf(facts.sent.get(id));
    if (found) return found;
  }
  if (!keys.subjectKey || !keys.correspondentAddress) return null;
  const correspondent = keys.correspondentAddress.toLowerCase();
  const from = keys.date.getTime() - SUBJECT_WINDOW_MS;
  const to = keys.date.getTime() + SUBJECT_WINDOW_MS;
  const candidates = [
    ...(facts.bySubject[index] ?? []).flatMap((id) => known(id) ?? []),
    ...earlier
      .filter((m) => m.fromLower === correspondent && m.date.getTime() >= from && m.date.getTime() <= to && m.conversation.subjectKey === keys.subjectKey)
      .map((m) => m.conversation),
  ];
  return candidates.reduce<T | null>((best, c) => (best === null || isLaterThread(c, best) ? c : best), null);
}

/**
 * The conversation of `keys` in `companyId`, or null for a new one: the rules for one message alone,
 * reading (not locking) the conversations they compare.
 */
export async function findConversation(tx: DbOrTx, companyId: number, keys: ThreadingKeys): Promise<number | null> {
  const facts = await findThreadingFacts(tx, companyId, [{ keys, externalId: null, fromAddress: null }]);
  const ids = conversationIdsOf(facts);
  const rows = ids.length === 0 ? [] : await tx
    .select({ id: conversations.id, subjectKey: conversations.subjectKey, lastMessageAt: conversations.lastMessageAt })
    .from(conversations)
    .where(inArray(conversations.id, ids));
  const byId = new Map(rows.map((r) => [r.id, { id: r.id, subjectKey: r.subjectKey, rank: r.id, state: { lastMessageAt: r.lastMessageAt } }]));
  return chooseConversation(0, keys, facts, [], (id) => byId.get(id))?.id ?? null;
}

/** `ORDER BY last_message_at DESC, id DESC` (PostgreSQL puts NULLs first in a descending order). */
function isLaterThread(a: ThreadTarget, b: ThreadTarget): boolean {
  const at = a.state.lastMessageAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const bt = b.state.lastMessageAt?.getTime() ?? Number.POSITIVE_INFINITY;
  return at !== bt ? at > bt : a.rank > b.rank;
}

async function findByReferences(tx: DbOrTx, companyId: number, ids: string[]): Promise<Pick<ThreadingFacts, "imported" | "sent">> {
  const imported = new Map<string, number>();
  const sent = new Map<string, number>();
  if (ids.length === 0) return { imported, sent };
  // Imported messages keep `<id>` in external_id. What the follow-up job stored may or may not
  // have the brackets, so both spellings are looked up there.
  const bracketed = ids.map((id) => `<${id}>`);
  const result = await tx.execute(sql`
    select ${inboxMessages.externalId} as ref, ${inboxMessages.conversationId} as conversation_id, true as is_imported, ${inboxMessages.id} as id
    from ${inboxMessages} join ${conversations} on ${conversations.id} = ${inboxMessages.conversationId}
    where ${inboxMessages.externalId} = any(${sql.param(bracketed)}::text[]) and ${conversations.companyId} = ${companyId}
    union all
    select ${followupHistory.messageId}, ${followupHistory.conversationId}, false, ${followupHistory.id}
    from ${followupHistory}
    where ${and(eq(followupHistory.companyId, companyId), sql`${followupHistory.conversationId} is not null`)}
      and ${followupHistory.messageId} = any(${sql.param([...bracketed, ...ids])}::text[])
    order by is_imported desc, id`);
  for (const row of rowsOf<{ ref: string; conversation_id: number; is_imported: boolean }>(result)) {
    const byId = row.is_imported ? imported : sent;
    const id = row.ref.replace(/^<|>$/g, "");
    if (!byId.has(id)) byId.set(id, row.conversation_id);
  }
  return { imported, sent };
}

/**
 * Per message, the conversations with its subject key holding a message from its correspondent
 * dated within the window of its date, and its own `lower(from_email)`.
 */
async function findBySubject(tx: DbOrTx, companyId: number, messages: ThreadedMessage[]): Promise<Pick<ThreadingFacts, "bySubject" | "fromLower">> {
  const isSearched = ({ keys }: ThreadedMessage) => Boolean(keys.subjectKey && keys.correspondentAddress);
  // Without a message to thread by subject, no one compares the senders' addresses either.
  if (!messages.some(isSearched)) return { bySubject: messages.map(() => []), fromLower: messages.map(() => null) };
  const inputs = messages.map((m, ord) => ({
    ord,
    subject_key: isSearched(m) ? m.keys.subjectKey : null,
    correspondent: m.keys.correspondentAddress?.toLowerCase() ?? null,
    from_date: new Date(m.keys.date.getTime() - SUBJECT_WINDOW_MS),
    to_date: new Date(m.keys.date.getTime() + SUBJECT_WINDOW_MS),
    from_email: m.fromAddress,
  }));
  const result = await tx.execute(sql`
    select m.ord, lower(m.from_email) as from_lower, array(
      select ${conversations.id} from ${conversations}
      where ${conversations.companyId} = ${companyId} and ${conversations.subjectKey} = m.subject_key
        and exists (
          select 1 from ${inboxMessages}
          where ${inboxMessages.conversationId} = ${conversations.id}
            and lower(${inboxMessages.fromEmail}) = m.correspondent
            and ${inboxMessages.createdAt} between m.from_date and m.to_date)
    ) as conversation_ids
    from json_to_recordset(${jsonParam(inputs)}::json)
      as m(ord int, subject_key text, correspondent text, from_date timestamptz, to_date timestamptz, from_email text)`);
  const bySubject: number[][] = messages.map(() => []);
  const fromLower: (string | null)[] = messages.map(() => null);
  for (const row of rowsOf<{ ord: number; from_lower: string | null; conversation_ids: number[] }>(result)) {
    bySubject[row.ord] = row.conversation_ids;
    fromLower[row.ord] = row.from_lower;
  }
  return { bySubject, fromLower };
}
