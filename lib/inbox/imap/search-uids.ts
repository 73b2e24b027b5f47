// Finds which UIDs of the open folder to import next: the new ones after the cursor, or those of the
// recent window (first sync, resync after a UIDVALIDITY change). UID SEARCH only: nothing is read.

import type { ImapFlow } from "imapflow";
import { JobError } from "../../errors.js";
import type { WindowRule } from "../mail-source.js";

const DAY_MS = 86_400_000;

/** UIDs greater than `afterUid`, ascending (and at most `untilUid` when given). */
export async function searchNewUids(client: ImapFlow, afterUid: number, untilUid?: number): Promise<number[]> {
  const range = `${afterUid + 1}:${untilUid ?? "*"}`;
  return within(await client.search({ uid: range }, { uid: true }), afterUid, untilUid);
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
