// Downloads messages of the open folder in two steps: sizes and dates first, then the content in
// small batches (only the header block when over the size limit). BODY.PEEK only: never sets \Seen.
// `downloadBatches` walks the folder from a position batch by batch: the import runs it ahead of
// the storing (`read-ahead.ts`), so it is the only code sending commands on the connection then.

import type { FetchMessageObject, ImapFlow } from "imapflow";
import { BATCH_MAX_BYTES, BATCH_MAX_MESSAGES, type DownloadedBatch, type FetchedMessage, type MessageMeta, type WindowRule } from "../mail-source.js";
import { searchNewUids, searchWindowUids } from "./search-uids.js";

/** UIDs looked at per SEARCH round: bounds the metadata held at once on a mailbox with a big backlog. */
export const MAX_UIDS_PER_ROUND = 200;

/** A message of an IMAP folder, keyed by its UID. */
export type ImapMessageMeta = Extract<MessageMeta, { uid: number }>;

/** Where a folder's download starts, and what is backfill (see `cursor.ts`). */
export interface DownloadPlan {
  /** The last UID already imported. */
  afterUid: number;
  /** UIDs up to this one are downloaded only inside the recent window, as backfill. */
  backfillUntilUid: number | null;
  rule: WindowRule;
  now: Date;
  maxMessageBytes: number;
  /** Told the UIDs a SEARCH announced and the FETCH then did not return, before the cursor moves past them. */
  onShortfall?: (missingUids: number[]) => Promise<void>;
}

/**
 * The folder's messages after `plan.afterUid`, batch by batch in UID order: the backfill window
 * first, then what is new. A batch may be empty, only to move the cursor (the window ended,
 * messages vanished). Ends early when `shouldStop` says so before a download.
 */
export async function* downloadBatches(client: ImapFlow, plan: DownloadPlan, shouldStop: () => boolean): AsyncGenerator<DownloadedBatch> {
  let position = plan.afterUid;
  for (;;) {
    if (shouldStop()) return;
    const backfillUntilUid = plan.backfillUntilUid;
    const isBackfill = backfillUntilUid !== null && position < backfillUntilUid;
    const uids = isBackfill
      ? await searchWindowUids(client, plan.rule, plan.now, { afterUid: position, untilUid: backfillUntilUid })
      : await searchNewUids(client, position);
    if (uids.length === 0) {
      if (!isBackfill) return;
      yield { messages: [], isBackfill, position: backfillUntilUid, bytes: 0 };
      position = backfillUntilUid;
      continue;
    }
    const round = uids.slice(0, MAX_UIDS_PER_ROUND);
    const metadata = await fetchMetadata(client, round);
    if (metadata.length < round.length && plan.onShortfall) {
      const fetched = new Set(metadata.map((m) => m.uid));
      await plan.onShortfall(round.filter((uid) => !fetched.has(uid)));
    }
    const batches = planBatches(metadata, plan.maxMessageBytes);
    for (const [i, batch] of batches.entries()) {
      if (shouldStop()) return;
      const messages = await fetchContent(client, batch, plan.maxMessageBytes);
      const isLast = i === batches.length - 1;
      const bytes = messages.reduce((sum, m) => sum + (m.source?.length ?? 0), 0);
      yield { messages, isBackfill, position: isLast ? round[round.length - 1]! : batch[batch.length - 1]!.uid, bytes };
    }
    if (batches.length === 0) yield { messages: [], isBackfill, position: round[round.length - 1]!, bytes: 0 };
    position = round[round.length - 1]!;
  }
}

/**
 * UID, RFC822.SIZE and INTERNALDATE of `uids`, ascending. A UID missing from the answer was expunged
 * meanwhile and is simply absent.
 *
 * Each fetch here is read to its end before anything else is sent: another command issued inside a
 * `for await` over imapflow's fetch waits for that fetch to end, which never comes (imapflow #219).
 */
export async function fetchMetadata(client: ImapFlow, uids: number[]): Promise<ImapMessageMeta[]> {
  if (uids.length === 0) return [];
  const rows = await client.fetchAll(toUidSet(uids), { uid: true, size: true, internalDate: true }, { uid: true });
  const wanted = new Set(uids);
  return rows
    .filter((row) => wanted.has(row.uid))
    .map((row) => ({ uid: row.uid, sizeBytes: row.size ?? 0, internalDate: toDate(row.internalDate) }))
    .sort((a, b) => a.uid - b.uid);
}

/** Splits messages (ascending UIDs) into content batches bounded in count and in bytes. */
export function planBatches<M extends MessageMeta>(messages: M[], maxMessageBytes: number): M[][] {
  const batches: M[][] = [];
  let current: M[] = [];
  let bytes = 0;
  for (const message of messages) {
    const cost = Math.min(message.sizeBytes, maxMessageBytes);
    if (current.length > 0 && (current.length >= BATCH_MAX_MESSAGES || bytes + cost > BATCH_MAX_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += cost;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Downloads one batch: `BODY.PEEK[]` for messages within `maxMessageBytes`, `BODY.PEEK[HEADER]` for
 * the others. The full download is also capped at `maxMessageBytes` (a partial fetch), so a server
 * that under-reports RFC822.SIZE cannot make the run hold more than the limit.
 */
export async function fetchContent(client: ImapFlow, batch: ImapMessageMeta[], maxMessageBytes: number): Promise<FetchedMessage[]> {
  const normal = batch.filter((m) => m.sizeBytes <= maxMessageBytes);
  const oversize = batch.filter((m) => m.sizeBytes > maxMessageBytes);
  const sources = new Map<number, Buffer>();
  if (normal.length > 0) {
    const rows = await client.fetchAll(
      toUidSet(normal.map((m) => m.uid)),
      { uid: true, source: { maxLength: maxMessageBytes } },
      { uid: true },
    );
    for (const row of rows) if (row.source) sources.set(row.uid, row.source);
  }
  if (oversize.length > 0) {
    const rows = await client.fetchAll(toUidSet(oversize.map((m) => m.uid)), { uid: true, headers: true }, { uid: true });
    for (const row of rows) if (row.headers) sources.set(row.uid, row.headers);
  }
  return batch.map((meta) => ({ ...meta, source: sources.get(meta.uid) ?? null, isOversize: meta.sizeBytes > maxMessageBytes }));
}

/** A compact UID set ("3:7,9,12:14") for ascending or unordered UIDs. */
export function toUidSet(uids: number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i]!;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) end = sorted[++i]!;
    parts.push(start === end ? `${start}` : `${start}:${end}`);
  }
  return parts.join(",");
}

function toDate(value: FetchMessageObject["internalDate"]): Date | null {
  if (!value) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
