// A mailbox's first sync over the Gmail API: its current history id first, then the ids of the
// INBOX and SENT messages of the first-sync window. The history id is read before the lists, so a
// message arriving while they are read is in the next `users.history.list` too (the dedupe keeps it
// once) rather than in neither.

import type { MessageDirection } from "../db/schema.js";
import { getProfile } from "./get-profile.js";
import type { GmailClient } from "./gmail-client.js";
import { type GmailMessageRef, listMessages } from "./list-messages.js";

export interface FirstSyncMessage extends GmailMessageRef {
  direction: MessageDirection;
}

export interface FirstSyncPlan {
  /** The cursor to store once these messages are imported. */
  historyId: string;
  /** Each message once: SENT's, then INBOX's, each newest first; one in both (mail to oneself) is the business's own. */
  messages: FirstSyncMessage[];
  isTruncated: boolean;
}

/** At most this many ids per label are listed (about 60 bytes each held). */
export const FIRST_SYNC_MAX_MESSAGES = 50_000;

export async function planFirstSync(client: GmailClient, options: { since: Date; maxMessages?: number }): Promise<FirstSyncPlan> {
  const { historyId } = await getProfile(client);
  const maxMessages = options.maxMessages ?? FIRST_SYNC_MAX_MESSAGES;
  const sent = await listMessages(client, { labelId: "SENT", since: options.since, maxMessages });
  const inbox = await listMessages(client, { labelId: "INBOX", since: options.since, maxMessages });
  const seen = new Set<string>();
  const messages: FirstSyncMessage[] = [];
  for (const [list, direction] of [[sent, "outbound"], [inbox, "inbound"]] as const) {
    for (const message of list.messages) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      messages.push({ ...message, direction });
    }
  }
  return { historyId, messages, isTruncated: sent.isTruncated || inbox.isTruncated };
}
