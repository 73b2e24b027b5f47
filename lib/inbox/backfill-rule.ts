// Which messages of a folder's recent window are backfill. A first sync (of the mailbox, or of a
// folder that appeared later: the Sent folder a mail program creates on its first send, a folder
// switched on later) and a resync after a UIDVALIDITY change read the folder's recent window. What
// the mailbox held before it was connected was handled elsewhere: it arrives as backfill (read,
// settled, never triggering automation). A message dated after the connection is live mail,
// whatever folder it is found in and whenever that folder appeared: a reply written after
// connecting settles its conversation as any reply does.
//
// A message's date here is the earlier of the server's INTERNALDATE and its Date header. The server's
// clock keeps a sender's clock running ahead, or a bogus future Date, from making old mail live;
// the Date header keeps old mail copied into a new folder (APPEND gives it a fresh INTERNALDATE)
// from passing as new. A message with neither date stays backfill. The connection time comes from
// the database's clock and INTERNALDATE from the mail server's: only mail written within their skew
// of the connection moment could be misjudged.

import { parseMailDate } from "./message-date.js";

/** What the window rule needs to know of a message found by the sync. */
export interface FoundMessage {
  /** Found by a first sync or a resync window (up to the cursor's `backfill_until_uid`). */
  isInWindow: boolean;
  /** The server's INTERNALDATE. */
  internalDate: Date | null;
  /** The raw `Date` header. */
  dateHeader: string | null;
}

/** Whether `message` is backfill for a mailbox connected at `connectedAt` (see the module comment). */
export function isBackfillMessage(message: FoundMessage, connectedAt: Date): boolean {
  if (!message.isInWindow) return false;
  const dates = [message.internalDate, parseMailDate(message.dateHeader)].filter((d): d is Date => d !== null && !Number.isNaN(d.getTime()));
  if (dates.length === 0) return true;
  // Both dates are whole seconds: mail of the very second the mailbox was connected may be from
  // before it, and stays backfill.
  return Math.min(...dates.map((d) => d.getTime())) < connectedAt.getTime();
}
