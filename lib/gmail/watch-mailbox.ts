// `users.watch` (100 quota units): Gmail publishes a notification to the deployment's Pub/Sub topic
// whenever a message reaches the mailbox's INBOX or SENT (`labelFilterBehavior: include`, which
// replaces the deprecated `labelFilterAction`). The topic must exist in the Google Cloud project of
// the OAuth app, with publish rights for gmail-api-push@system.gserviceaccount.com (docs/google.md).
// Calling it again on a watched mailbox renews the watch (`watch-renewal.ts` says when).

import type { gmail_v1 } from "@googleapis/gmail";
import { JobError } from "../errors.js";
import type { GmailClient } from "./gmail-client.js";
import { gmailJson } from "./gmail-request.js";
import { SYNCED_LABELS } from "./message-role.js";

export interface GmailWatch {
  /** The mailbox's history id when the watch started. */
  historyId: string;
  /** When Gmail stops notifying unless the watch is renewed (7 days after the call). */
  expiresAt: Date;
}

/** Starts or renews the watch; `topicName` is `projects/<project>/topics/<topic>`. */
export async function watchMailbox(client: GmailClient, topicName: string): Promise<GmailWatch> {
  const request: gmail_v1.Schema$WatchRequest = { topicName, labelIds: [...SYNCED_LABELS], labelFilterBehavior: "include" };
  const answer = await gmailJson<gmail_v1.Schema$WatchResponse>(client, { method: "users.watch", httpMethod: "POST", path: "/watch", body: request });
  const expirationMs = Number(answer.expiration);
  if (!answer.historyId || !Number.isFinite(expirationMs)) throw new JobError("transient", "Gmail API users.watch: no history id or expiration in the answer");
  return { historyId: answer.historyId, expiresAt: new Date(expirationMs) };
}

