// Extends a subscription before it expires (PATCH /subscriptions/{id} with a new
// expirationDateTime, "Update subscription"). Renewing also reauthorizes it, which is what a
// `reauthorizationRequired` lifecycle notification asks for. A subscription Graph no longer has
// (404: it expired, or was removed) must be created again; the next poll catches what was missed.

import type { Subscription } from "@microsoft/microsoft-graph-types";
import type { CallOptions, GraphClient } from "./graph-client.js";
import { graphErrorOf } from "./graph-error.js";
import type { GraphMailbox } from "./mailbox-path.js";
import { type FolderSubscription, SUBSCRIPTION_LIFETIME_MS, subscriptionOf } from "./subscribe-to-folder.js";

/**
 * Renew once less than this is left: two days of runs to get it done, so a day-long outage of the
 * product or of Graph does not let the subscription lapse.
 */
export const SUBSCRIPTION_RENEW_BEFORE_MS = 2 * 24 * 3_600_000;

export type RenewResult = { kind: "renewed"; subscription: FolderSubscription } | { kind: "gone" };

/** Whether a subscription expiring at `expiresAt` should be renewed now. */
export function isRenewalDue(expiresAt: Date, now: Date): boolean {
  return expiresAt.getTime() - now.getTime() < SUBSCRIPTION_RENEW_BEFORE_MS;
}

/** Pushes subscription `id`'s expiry to the longest lifetime from now. */
export async function renewSubscription(client: GraphClient, mailbox: GraphMailbox, id: string, options: CallOptions = {}): Promise<RenewResult> {
  const what = "subscription renewal";
  const change: Subscription = { expirationDateTime: new Date(client.now().getTime() + SUBSCRIPTION_LIFETIME_MS).toISOString() };
  const response = await client.send(mailbox, {
    method: "PATCH",
    what,
    path: `/subscriptions/${encodeURIComponent(id)}`,
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(change),
  }, options);
  if (response.status === 404) {
    await response.body?.cancel();
    return { kind: "gone" };
  }
  if (!response.ok) throw await graphErrorOf(response, what);
  return { kind: "renewed", subscription: subscriptionOf((await response.json()) as Subscription, what) };
}
