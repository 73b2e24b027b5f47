// The locks the inbox import takes, all of them, in the order it takes them. Several mailboxes of
// one company import the same mail at once (a client writing to contact@ and devis@, a newsletter
// to the whole team), and every copy is filed in the same company conversation.
//
// Order, in each store transaction, at most one lock of each step:
// 1. `lockCorrespondent`: an advisory lock on (company, correspondent), before looking for the
//    conversation. Two copies of one thread are then filed one after the other, and the second
//    sees the conversation the first created instead of creating another one.
// 2. `lockConversation`: the conversation row, FOR NO KEY UPDATE, before anything is inserted
//    into it. Taken after inserting the message, as it once was, it deadlocked: each transaction's
//    insert holds a KEY SHARE lock on the row (the foreign key check), and each one's FOR UPDATE
//    then waited for the other's KEY SHARE. NO KEY UPDATE does not conflict with KEY SHARE, so it
//    never waits for a row that only references the conversation (a follow-up, a message).
// 3. Inserts (message, attachments) and the conversation update, on rows this transaction holds.
// Why this cannot deadlock: a transaction waits only at step 1 holding nothing, or at step 2
// holding one advisory lock that no transaction past step 1 ever asks for; the holder of the
// conversation row waits for nothing this transaction holds.

import { eq, sql } from "drizzle-orm";
import type { DbOrTx } from "../db/client.js";
import { conversations } from "../db/schema.js";

/** Arbitrary constant naming this product's per-correspondent inbox lock (first key of the pair). */
const CORRESPONDENT_LOCK_CLASS = 7_340_023;

/**
 * Holds, until the transaction ends, the right to file mail of `correspondentAddress` in `companyId`.
 * A hash collision only makes two unrelated correspondents wait for each other a moment.
 */
export async function lockCorrespondent(tx: DbOrTx, companyId: number, correspondentAddress: string | null): Promise<void> {
  const key = `${companyId}:${(correspondentAddress ?? "").trim().toLowerCase()}`;
  await tx.execute(sql`select pg_advisory_xact_lock(${CORRESPONDENT_LOCK_CLASS}::int, hashtext(${key}))`);
}

export interface LockedConversation {
  status: string;
  lastMessageAt: Date | null;
  clientId: number | null;
}

/** Locks the conversation row for this transaction's update and returns what the update reads. */
export async function lockConversation(tx: DbOrTx, conversationId: number): Promise<LockedConversation | null> {
  const [row] = await tx
    .select({ status: conversations.status, lastMessageAt: conversations.lastMessageAt, clientId: conversations.clientId })
    .from(conversations)
    .where(eq(conversations.id, conversationId))
    .for("no key update");
  return row ?? null;
}
