// `users.getProfile`: the mailbox's address and its current history id, the cursor a first sync
// starts from (1 quota unit).

import type { gmail_v1 } from "@googleapis/gmail";
import { JobError } from "../errors.js";
import type { GmailClient } from "./gmail-client.js";
import { gmailJson } from "./gmail-request.js";

export interface GmailProfile {
  emailAddress: string;
  /** The mailbox's current history record: changes after it are what `users.history.list` returns. */
  historyId: string;
}

export async function getProfile(client: GmailClient): Promise<GmailProfile> {
  const profile = await gmailJson<gmail_v1.Schema$Profile>(client, { method: "users.getProfile", httpMethod: "GET", path: "/profile" });
  if (!profile.emailAddress || !profile.historyId) throw new JobError("transient", "Gmail API users.getProfile: no address or history id in the answer");
  return { emailAddress: profile.emailAddress, historyId: profile.historyId };
}
