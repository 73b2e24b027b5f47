// Downloads messages of the open folder in two steps: sizes and dates first, then the content in
// small batches (only the header block when over the size limit). BODY.PEEK only: never sets \Seen.

import type { FetchMessageObject, ImapFlow } from "imapflow";

/** What the server says about a message before its content is downloaded. */
export interface MessageMeta {
  uid: number;
  /** RFC822.SIZE. */
  sizeBytes: number;
  /** INTERNALDATE (when the server received it). */
  internalDate: Date | null;
}

/** A downloaded message: the whole source, or only its header block when `isOversize`. */
export interface FetchedMessage extends MessageMeta {
  source: Buffer | null;
  isOversize: boolean;
}

/** Bytes of message content held in memory at once, at most (one bigger message is fetched alone). */
export const BATCH_MAX_BYTES = 8 * 1024 * 1024;
/** Messages per content batch: the cursor moves after each, so a failure repeats at most this many. */
export const BATCH_MAX_MESSAGES = 10;

/**
 * UID, RFC822.SIZE and INTERNALDATE of `uids`, ascending. A UID missing from the answer was expunged
 * meanwhile and is simply absent.
 *
 * Each fetch here is read to its end before anything else is sent: another command issued inside a
 * `for await` over imapflow's fetch waits for that fetch to end, which never comes (imapflow #219).
 */
export async function fetchMetadata(client: ImapFlow, uids: number[]): Promise<MessageMeta[]> {
  if (uids.length === 0) return [];
  const rows = await client.fetchAll(toUidSet(uids), { uid: true, size: true, internalDate: true }, { uid: true });
  const wanted = new Set(uids);
  return rows
    .filter((row) => wanted.has(row.uid))
    .map((row) => ({ uid: row.uid, sizeBytes: row.size ?? 0, internalDate: toDate(row.internalDate) }))
    .sort((a, b) => a.uid - b.uid);
}

/** Splits messages (ascending UIDs) into content batches bounded in count and in bytes. */
export function planBatches(messages: MessageMeta[], maxMessageBytes: number): MessageMeta[][] {
  const batches: MessageMeta[][] = [];
  let current: MessageMeta[] = [];
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
export async function fetchContent(client: ImapFlow, batch: MessageMeta[], maxMessageBytes: number): Promise<FetchedMessage[]> {
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
