// What Graph POSTs to a notification URL, read into typed notices: a changeNotificationCollection
// whose items are either change notifications (a message created: `resource` and `resourceData`
// name it) or lifecycle notifications (`lifecycleEvent`: reauthorizationRequired,
// subscriptionRemoved, missed; "Reduce missing subscriptions and change notifications"). Items
// that are neither, or lack a subscription id, are counted and dropped. Nothing here is trusted
// yet: the clientState is checked by the endpoint against the subscription's stored hash.

import type { ChangeNotification, ChangeNotificationCollection, LifecycleEventType } from "@microsoft/microsoft-graph-types";

export interface ChangeNotice {
  kind: "change";
  subscriptionId: string;
  clientState: string | undefined;
  changeType: string;
  /** Relative to the Graph root: `Users/{user id}/Messages/{message id}`. */
  resource: string;
  /** The message's Graph id, when the notification names it. */
  messageId: string | undefined;
}

export interface LifecycleNotice {
  kind: "lifecycle";
  subscriptionId: string;
  clientState: string | undefined;
  /** reauthorizationRequired: renew it; subscriptionRemoved: create it again; missed: sync now. */
  event: LifecycleEventType;
}

export type GraphNotice = ChangeNotice | LifecycleNotice;

const LIFECYCLE_EVENTS: readonly LifecycleEventType[] = ["reauthorizationRequired", "subscriptionRemoved", "missed"];

/** The notices of a notification POST's parsed JSON body, and how many items were unusable. */
export function parseNotifications(body: unknown): { notices: GraphNotice[]; unusable: number } {
  const value = (body as ChangeNotificationCollection | null)?.value;
  if (!Array.isArray(value)) return { notices: [], unusable: 1 };
  const notices: GraphNotice[] = [];
  let unusable = 0;
  for (const item of value as unknown[]) {
    const notice = noticeOf(item);
    if (notice) notices.push(notice);
    else unusable++;
  }
  return { notices, unusable };
}

function noticeOf(item: unknown): GraphNotice | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  const notification = item as ChangeNotification;
  if (typeof notification.subscriptionId !== "string" || notification.subscriptionId === "") return undefined;
  const clientState = typeof notification.clientState === "string" ? notification.clientState : undefined;
  if (notification.lifecycleEvent !== undefined && notification.lifecycleEvent !== null) {
    if (!LIFECYCLE_EVENTS.includes(notification.lifecycleEvent)) return undefined;
    return { kind: "lifecycle", subscriptionId: notification.subscriptionId, clientState, event: notification.lifecycleEvent };
  }
  if (typeof notification.changeType !== "string" || typeof notification.resource !== "string") return undefined;
  return {
    kind: "change",
    subscriptionId: notification.subscriptionId,
    clientState,
    changeType: notification.changeType,
    resource: notification.resource,
    messageId: messageIdOf(notification),
  };
}

/** `resourceData.id`, else the last segment of `resource` (`…/Messages/{id}` or `…/messages('{id}')`). */
function messageIdOf(notification: ChangeNotification): string | undefined {
  const data = notification.resourceData as { id?: unknown } | null | undefined;
  if (typeof data?.id === "string" && data.id) return data.id;
  const last = notification.resource?.split("/").pop();
  const quoted = last?.match(/\('([^']+)'\)$/)?.[1];
  if (quoted) return quoted;
  return last && !last.includes("(") ? last : undefined;
}
