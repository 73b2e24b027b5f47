// Finds which UIDs of the open folder to import next: the new ones after the cursor, or those of the
// recent window (first sync, resync after a UIDVALIDITY change). UID SEARCH, and a UID FETCH of UIDs
// only where the server's SEARCH is known wrong: nothing is read.

import type { ImapFlow } from "imapflow";
import { JobError } from "../../errors.js";
import type { WindowRule } from "../mail-source.js";

const DAY_MS = 86_400_000;

/**
 * UIDs greater than `afterUid`, ascending (and at most `untilUid` when given).
 *
 * GNU Mailutils imap4d 3.15 reads the set of `UID SEARCH UID …` as message sequence numbers, so
 * `UID SEARCH UID n:*` finds nothing there, ever (docs/interop.md). When the search finds nothing
 * while the folder's UIDNEXT (announced at SELECT/EXAMINE, no extra command) says UIDs above the
 * cursor were given out, the same range is asked again as `UID FETCH n:* (UID)`, which that server
 * answers right. A server whose search is right pays that FETCH only when messages after the cursor
 * were expunged before being read; with nothing new, UIDNEXT is the cursor + 1 and nothing more is sent.
 */
export async function searchNewUids(client: ImapFlow, afterUid: number, untilUid?: number): Promise<number[]> {
  const range = `${afterUid + 1}:${untilUid ?? "*"}`;
  const found = within(await client.search({ uid: range }, { uid: true }), afterUid, untilUid);
  if (found.length > 0 || !hasUidsAfter(client, afterUid)) return found;
  const rows = await client.fetchAll(range, { uid: true }, { uid: true });
  return within(rows.map((row) => row.uid), afterUid, untilUid);
}

/** Whether the open folder's UIDNEXT says a UID above `afterUid` was given out (false when unknown). */
function hasUidsAfter(client: ImapFlow, afterUid: number): boolean {
  const mailbox = client.mailbox;
  if (!mailbox || mailbox.uidNext === undefined) return false;
  return Number(mailbox.uidNext) > afterUid + 1;
}

/**
 * UIDs of the window, ascending: SEARCH SINCE the window's first day, then the newest `maxMessages`
 * (the highest UIDs: UIDs grow with arrival). Limited to `(afterUid, untilUid]` when given, so a window
 * import cut by the run budget resumes where it stopped without widening.
 */
export async function searchWindowUids(
  client: ImapFlow,
  rule: WindowRule,
  now: Date,
  range: { afterUid?: number; untilUid?: number } = {},
): Promise<number[]> {
  // SINCE compares dates only (RFC 3501 §6.4.4), in the server's time zone: a day of slack at most.
  const since = new Date(now.getTime() - rule.sinceDays * DAY_MS);
  const afterUid = range.afterUid ?? 0;
  const found = await client.search(
    { since, ...(afterUid > 0 || range.untilUid ? { uid: `${afterUid + 1}:${range.untilUid ?? "*"}` } : {}) },
    { uid: true },
  );
  const uids = within(found, afterUid, range.untilUid);
  return uids.slice(Math.max(0, uids.length - rule.maxMessages));
}

/**
 * Keeps UIDs in `(afterUid, untilUid]`, sorted. Needed because `N:*` always includes the highest UID
 * of the folder, even when it is below N (RFC 3501 §6.4.8): without this filter the last message
 * would be offered again on every run.
 */
function within(found: number[] | false | undefined, afterUid: number, untilUid?: number): number[] {
  // A refused SEARCH must not read as "nothing new": a window import would then skip every message.
  if (!Array.isArray(found)) throw new JobError("transient", "the IMAP server refused UID SEARCH");
  return found.filter((uid) => uid > afterUid && (untilUid === undefined || uid <= untilUid)).sort((a, b) => a - b);
}
