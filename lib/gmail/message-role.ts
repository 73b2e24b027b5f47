// What a Gmail message is to the business, from its labels: Gmail has no folders, one message may
// carry INBOX and SENT at once (mail to oneself), and SENT means the business wrote it, whoever the
// From header names — as the IMAP Sent folder does (`direction` outbound).

import type { MessageDirection } from "../db/schema.js";

/** Labels whose messages are never imported: junk, deleted, unfinished. */
export const IGNORED_LABELS: readonly string[] = ["SPAM", "TRASH", "DRAFT"];
/** The labels a sync reads, and `users.watch` watches. */
export const SYNCED_LABELS = ["INBOX", "SENT"] as const;

/** `outbound` for the business's own mail, `inbound` for what it received, null for a message not to import. */
export function roleOfLabels(labelIds: readonly string[]): MessageDirection | null {
  if (labelIds.some((label) => IGNORED_LABELS.includes(label))) return null;
  if (labelIds.includes("SENT")) return "outbound";
  if (labelIds.includes("INBOX")) return "inbound";
  return null;
}
