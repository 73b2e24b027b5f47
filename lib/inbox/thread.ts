// Finds the conversation an incoming message belongs to, in this order:
// 1. its `In-Reply-To`, then its `References` (newest first) name a message of the company — one
//    imported from a mailbox, or a follow-up the company sent (the follow-up job records the
//    Message-ID of each send, so a client's reply to a reminder lands in that conversation);
// 2. else the same subject key from the same correspondent within 60 days of the message's date
//    (what Frappe does; it catches clients whose mail program drops the threading headers);
// 3. else none: the message starts a new conversation.
// An Outlook "reply with a new subject" keeps its headers, so rule 1 threads it.

import { and, between, desc, eq, exists, inArray, isNotNull, sql } from "drizzle-orm";
import type { DbOrTx } from "../db/client.js";
import { conversations, followupHistory, inboxMessages } from "../db/schema.js";

export const SUBJECT_THREAD_WINDOW_DAYS = 60;
/** Threads rarely run deeper; a References header can list hundreds of ids. */
const MAX_REFERENCED_IDS = 50;
const DAY_MS = 24 * 60 * 60 * 1000;

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

/** The id of the conversation `keys` belong to in `companyId`, or null for a new conversation. */
export async function findConversation(tx: DbOrTx, companyId: number, keys: ThreadingKeys): Promise<number | null> {
  return (await findByReferences(tx, companyId, keys.referencedIds)) ?? (await findBySubject(tx, companyId, keys));
}

/** The ids a message refers to, most specific first: In-Reply-To, then References from the newest. */
export function referencedIdsOf(message: { inReplyTo: string[]; references: string[] }): string[] {
  return [...new Set([...message.inReplyTo, ...[...message.references].reverse()])].slice(0, MAX_REFERENCED_IDS);
}

async function findByReferences(tx: DbOrTx, companyId: number, ids: string[]): Promise<number | null> {
  if (ids.length === 0) return null;
  // Imported messages keep `<id>` in external_id. What the follow-up job stored may or may not
  // have the brackets, so both spellings are looked up there.
  const bracketed = ids.map((id) => `<${id}>`);
  const imported = await tx
    .select({ ref: inboxMessages.externalId, conversationId: inboxMessages.conversationId })
    .from(inboxMessages)
    .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
    .where(and(inArray(inboxMessages.externalId, bracketed), eq(conversations.companyId, companyId)));
  const sent = await tx
    .select({ ref: followupHistory.messageId, conversationId: followupHistory.conversationId })
    .from(followupHistory)
    .where(
      and(
        eq(followupHistory.companyId, companyId),
        isNotNull(followupHistory.conversationId),
        inArray(followupHistory.messageId, [...bracketed, ...ids]),
      ),
    );
  const byId = new Map<string, number>();
  for (const row of [...imported, ...sent]) {
    const id = (row.ref ?? "").replace(/^<|>$/g, "");
    if (row.conversationId !== null && !byId.has(id)) byId.set(id, row.conversationId);
  }
  for (const id of ids) {
    const found = byId.get(id);
    if (found !== undefined) return found;
  }
  return null;
}

async function findBySubject(tx: DbOrTx, companyId: number, keys: ThreadingKeys): Promise<number | null> {
  if (!keys.subjectKey || !keys.correspondentAddress) return null;
  const windowMs = SUBJECT_THREAD_WINDOW_DAYS * DAY_MS;
  const fromDate = new Date(keys.date.getTime() - windowMs);
  const toDate = new Date(keys.date.getTime() + windowMs);
  const rows = await tx
    .select({ id: conversations.id })
    .from(conversations)
    .where(
      and(
        eq(conversations.companyId, companyId),
        eq(conversations.subjectKey, keys.subjectKey),
        exists(
          tx
            .select({ one: sql`1` })
            .from(inboxMessages)
            .where(
              and(
                eq(inboxMessages.conversationId, conversations.id),
                sql`lower(${inboxMessages.fromEmail}) = ${keys.correspondentAddress.toLowerCase()}`,
                between(inboxMessages.createdAt, fromDate, toDate),
              ),
            ),
        ),
      ),
    )
    .orderBy(desc(conversations.lastMessageAt), desc(conversations.id))
    .limit(1);
  return rows[0]?.id ?? null;
}
