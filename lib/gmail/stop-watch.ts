// `users.stop` (50 quota units): Gmail stops notifying for this mailbox, when it is removed or no
// longer synced through the Gmail API.

import type { GmailClient } from "./gmail-client.js";
import { gmailJson } from "./gmail-request.js";

export async function stopWatch(client: GmailClient): Promise<void> {
  await gmailJson<Record<string, never>>(client, { method: "users.stop", httpMethod: "POST", path: "/stop" });
}
