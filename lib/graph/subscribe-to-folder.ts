// Asks Graph to notify the product when a message is created in one folder of one mailbox (change
// notifications, "Receive change notifications through webhooks"): POST /subscriptions on
// `{mailbox}/mailFolders('inbox'|'sentitems')/messages`, changeType `created`, with the secret
// `clientState` and a lifecycle URL (which cannot be added later, only at creation: "Reduce missing
// subscriptions and change notifications"). Before answering, Graph POSTs a validation token to
// both URLs and needs it echoed within 10 s (notification-endpoint.ts).
// Delegated permissions subscribe only to the signed-in person's own mailbox: Mail.Read.Shared does
// not cover change notifications on a shared mailbox, which needs the application permission
// Mail.Read ("Get Outlook messages in a shared or delegated folder"). Graph answers 403 otherwise;
// such a mailbox is polled.

import type { Subscription } from "@microsoft/microsoft-graph-types";
import type { CallOptions, GraphClient } from "./graph-client.js";
import { GraphError, graphErrorOf } from "./graph-error.js";
import { folderMessagesResource, type GraphFolder, type GraphMailbox } from "./mailbox-path.js";

/**
 * The longest life Graph gives a subscription to Outlook messages without resource data: 10,080
 * minutes, under seven days ("subscription resource type", Subscription lifetime; earlier versions
 * of that table said 4,230 minutes). With resource data it would be 1,440 minutes.
 */
export const SUBSCRIPTION_MAX_LIFETIME_MS = 10_080 * 60_000;
/** What is asked for: the maximum, less a margin for the difference between our clock and Graph's. */
export const SUBSCRIPTION_LIFETIME_MS = SUBSCRIPTION_MAX_LIFETIME_MS - 10 * 60_000;

export interface SubscribeRequest {
  folder: GraphFolder;
  /** The notification endpoint (HTTPS in production; Graph appends nothing but its query string). */
  notificationUrl: string;
  /** Where reauthorizationRequired, subscriptionRemoved and missed arrive (may equal notificationUrl). */
  lifecycleNotificationUrl: string;
  /** From newClientState(); store only its hash. */
  clientState: string;
}

export interface FolderSubscription {
  id: string;
  resource: string;
  expiresAt: Date;
}

/** Creates the subscription; throws a GraphError when Graph refuses it (403 for a shared mailbox). */
export async function subscribeToFolder(client: GraphClient, mailbox: GraphMailbox, request: SubscribeRequest, options: CallOptions = {}): Promise<FolderSubscription> {
  const what = `subscription to ${request.folder}`;
  const subscription: Subscription = {
    changeType: "created",
    notificationUrl: request.notificationUrl,
    lifecycleNotificationUrl: request.lifecycleNotificationUrl,
    resource: folderMessagesResource(mailbox, request.folder),
    expirationDateTime: new Date(client.now().getTime() + SUBSCRIPTION_LIFETIME_MS).toISOString(),
    clientState: request.clientState,
  };
  const response = await client.send(mailbox, {
    method: "POST",
    what,
    path: "/subscriptions",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(subscription),
  }, options);
  if (response.status !== 201) throw await graphErrorOf(response, what);
  return subscriptionOf((await response.json()) as Subscription, what);
}

/** The fields the product keeps of a subscription Graph answered with. */
export function subscriptionOf(subscription: Subscription, what: string): FolderSubscription {
  const expiresAt = new Date(subscription.expirationDateTime ?? Number.NaN);
  if (typeof subscription.id !== "string" || Number.isNaN(expiresAt.getTime())) {
    throw new GraphError("permanent", `Microsoft Graph ${what} answered without an id or an expiry`, { mayHaveReachedServer: true });
  }
  return { id: subscription.id, resource: subscription.resource ?? "", expiresAt };
}
