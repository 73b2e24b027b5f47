// The locks the inbox import takes, all of them, in the order it takes them. Several mailboxes of
// one company import the same mail at once (a client writing to contact@ and devis@, a newsletter
// to the whole team), and every copy is filed in the same company conversation.
//
// Order, in each store transaction (one message, or one downloaded batch: `write-batch.ts`):
// 1. `lockCorrespondents`: an advisory lock on (company, correspondent) for each message of the
//    transaction, all in one statement and in hash order, before looking for any conversation.
//    Two copies of one thread are then filed one after the other, and the second sees the
//    conversation the first created instead of creating another one.
// 2. `lockConversation`: the conversation row, FOR NO KEY UPDATE, before anything is inserted
//    into it. Taken after inserting the message, as it once was, it deadlocked: each transaction's
//    insert holds a KEY SHARE lock on the row (the foreign key check), and each one's FOR UPDATE
//    then waited for the other's KEY SHARE. NO KEY UPDATE does not conflict with KEY SHARE, so it
//    never waits for a row that only references the conversation (a follow-up, a message).
// 3. Inserts (message, attachments) and the conversation update, on rows this transaction holds.
// Why a one-message transaction cannot deadlock: it waits only at step 1 holding nothing, or at
// step 2 holding one advisory lock that no transaction past step 1 ever asks for; the holder of the
// conversation row waits for nothing this transaction holds. A batch transaction takes steps 2
// and 3 once per message, so it may hold one conversation row while asking for another: two
// batches of two mailboxes filing into the same two conversations by their threading headers (not
// by correspondent, whose locks they would share) in opposite orders can deadlock. PostgreSQL then
// aborts one, whose whole batch is retried (`retry-transient.ts`), as any deadlock victim's.

import { eq, sql } from "drizzle-orm";
import type { DbOrTx } from "../db/client.js";
import { conversations } from "../db/schema.js";

/** Arbitrary constant naming this product's per-correspondent inbox lock (first key of the pair). */
const CORRESPONDENT_LOCK_CLASS = 7_340_023;

/**
 * Holds, until the transaction ends, the right to file mail of each of `correspondentAddresses` in
 * `companyId`, in one statement. The locks are taken in the order of their keys' hashes, the same
 * order in every transaction, so two batches naming the same correspondents cannot wait for each
 * other at this step. A hash collision only makes two unrelated correspondents wait a moment.
 */
export async function lockCorrespondents(tx: DbOrTx, companyId: number, correspondentAddresses: (string | null)[]): Promise<void> {
  const keys = [...new Set(correspondentAddresses.map((address) => `${companyId}:${(address ?? "").trim().toLowerCase()}`))];
  await tx.execute(
    sql`select pg_advisory_xact_lock(${CORRESPONDENT_LOCK_CLASS}::int, h) from (select distinct hashtext(k) as h from unnest(${sql.param(keys)}::text[]) as k order by h) as ordered`,
  );
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
