// The locks the inbox import takes, all of them, in the order it takes them. Several mailboxes of
// one company import the same mail at once (a client writing to contact@ and devis@, a newsletter
// to the whole team), and every copy is filed in the same company conversation.
//
// Order, in each store transaction (one downloaded batch, or one message: a batch of one;
// `message-rows.ts`):
// 1. `lockCorrespondents`: an advisory lock on (company, correspondent) for each message of the
//    transaction, all in one statement and in hash order, before looking for any conversation.
//    Two copies of one thread are then filed one after the other, and the second sees the
//    conversation the first created instead of creating another one.
// 2. The threading queries read, without locking, every conversation the batch may file into.
// 3. `lockConversations`: those conversation rows, FOR NO KEY UPDATE, all in one statement and in
//    id order, before anything is inserted into them. NO KEY UPDATE does not conflict with the KEY
//    SHARE lock that inserting a row referencing the conversation takes (a message, a follow-up),
//    so it never waits for such a row. (Locking each conversation just before filing into it, as
//    the import once did message by message, let two batches hold one conversation each and ask
//    for the other's.)
// 4. Inserts (conversations, messages, attachments) and the conversation update, on rows this
//    transaction created or holds.
// Why two store transactions cannot deadlock: each waits for a lock only at step 1 or step 3, and
// at each step takes its locks in one global order (hashes, then conversation ids), holding only
// locks of the earlier steps or lower in the order, which the holder of the awaited lock never
// asks for again. A deadlock with another job (two runs racing on the same message's unique key)
// is detected by PostgreSQL, which aborts one transaction; that one is retried whole
// (`retry-transient.ts`).

import { sql } from "drizzle-orm";
import { type DbOrTx, rowsOf } from "../db/client.js";
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

/** What filing reads of a conversation it may file into. */
export interface LockedConversation {
  id: number;
  subjectKey: string | null;
  status: string;
  lastMessageAt: Date | null;
  clientId: number | null;
}

/**
 * Locks the conversation rows `ids` for this transaction's update, in one statement and in id
 * order, and returns those that exist. Rows are locked in the order of the sort: PostgreSQL
 * places the row locking above the ORDER BY.
 */
export async function lockConversations(tx: DbOrTx, ids: number[]): Promise<Map<number, LockedConversation>> {
  if (ids.length === 0) return new Map();
  // The date as epoch milliseconds (truncated, as a JS Date holds it): the drivers differ in how
  // they hand back a raw timestamptz.
  const result = await tx.execute(sql`
    select ${conversations.id} as id, ${conversations.subjectKey} as subject_key, ${conversations.status} as status,
      floor(extract(epoch from ${conversations.lastMessageAt}) * 1000)::float8 as last_message_at_ms, ${conversations.clientId} as client_id
    from ${conversations}
    where ${conversations.id} = any(${sql.param(ids)}::int[])
    order by ${conversations.id}
    for no key update`);
  const rows = rowsOf<{ id: number; subject_key: string | null; status: string; last_message_at_ms: number | null; client_id: number | null }>(result);
  return new Map(
    rows.map((r) => [
      r.id,
      { id: r.id, subjectKey: r.subject_key, status: r.status, lastMessageAt: r.last_message_at_ms === null ? null : new Date(r.last_message_at_ms), clientId: r.client_id },
    ]),
  );
}
