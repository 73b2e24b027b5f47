// Stops a subscription (DELETE /subscriptions/{id}, "Delete subscription": 204). One Graph no
// longer has (404) is already what was wanted.

import type { CallOptions, GraphClient } from "./graph-client.js";
import { graphErrorOf } from "./graph-error.js";
import type { GraphMailbox } from "./mailbox-path.js";

/** Deletes subscription `id`; true when Graph had it, false when it was already gone. */
export async function deleteSubscription(client: GraphClient, mailbox: GraphMailbox, id: string, options: CallOptions = {}): Promise<boolean> {
  const what = "subscription deletion";
  const response = await client.send(mailbox, { method: "DELETE", what, path: `/subscriptions/${encodeURIComponent(id)}` }, options);
  if (response.status === 404) {
    await response.body?.cancel();
    return false;
  }
  if (!response.ok) throw await graphErrorOf(response, what);
  await response.body?.cancel();
  return true;
}
