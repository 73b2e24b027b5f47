// The rows behind Graph change notifications (`mail_push_subscriptions`, provider `graph`): the
// stored clientState hash a notice is checked against, the one mailbox a notice makes due, and the
// upserts the subscriptions' upkeep writes. A notice is trusted for its own subscription only: the
// mailbox it makes due is the one that subscription row names, never one read from the notice
// (its `resource` is Graph's text and proves nothing), so one company cannot make another's due.

import { and, eq, max, sql } from "drizzle-orm";
import type { DbOrTx } from "../db/client.js";
import { inboxIntegrations, mailPushSubscriptions } from "../db/schema.js";
import type { GraphFolder } from "./mailbox-path.js";
import type { FolderSubscription } from "./subscribe-to-folder.js";

export type GraphSubscriptionRow = typeof mailPushSubscriptions.$inferSelect;

const PROVIDER = "graph";
const t = mailPushSubscriptions;

/** The stored clientState hash of active Graph subscription `subscriptionId`; undefined when the product holds none. */
export async function graphClientStateHashOf(db: DbOrTx, subscriptionId: string): Promise<string | undefined> {
  const [row] = await db
    .select({ hash: t.clientStateHash })
    .from(t)
    .where(and(eq(t.provider, PROVIDER), eq(t.subscriptionId, subscriptionId), eq(t.state, "active")));
  return row?.hash ?? undefined;
}

/** The active Graph subscription row `subscriptionId`, if the product holds it. */
export async function graphSubscriptionRow(db: DbOrTx, subscriptionId: string): Promise<GraphSubscriptionRow | undefined> {
  const [row] = await db.select().from(t).where(and(eq(t.provider, PROVIDER), eq(t.subscriptionId, subscriptionId), eq(t.state, "active")));
  return row;
}

/**
 * Records that subscription `subscriptionId` was notified and makes its mailbox due now; returns the
 * mailbox's id, or undefined when no active subscription or active mailbox answers to it. A mailbox
 * backing off after failures (`consecutive_failures` > 0) keeps its back-off: a notice tells new mail
 * arrived, not that what made it fail is fixed, and Graph may send many.
 */
export async function markSubscribedMailboxDue(db: DbOrTx, subscriptionId: string, now: Date): Promise<number | undefined> {
  const [subscription] = await db
    .update(t)
    .set({ lastNotifiedAt: now, updatedAt: now })
    .where(and(eq(t.provider, PROVIDER), eq(t.subscriptionId, subscriptionId), eq(t.state, "active")))
    .returning({ integrationId: t.integrationId });
  if (!subscription) return undefined;
  const i = inboxIntegrations;
  const [mailbox] = await db
    .update(i)
    .set({ nextSyncAt: sql`case when ${i.consecutiveFailures} = 0 then least(coalesce(${i.nextSyncAt}, ${now}), ${now}) else ${i.nextSyncAt} end` })
    .where(and(eq(i.id, subscription.integrationId), eq(i.isActive, true)))
    .returning({ id: i.id, consecutiveFailures: i.consecutiveFailures });
  return mailbox && mailbox.consecutiveFailures === 0 ? mailbox.id : undefined;
}

/** When a notice for one of `integrationId`'s Graph subscriptions was last accepted; undefined if never. */
export async function lastNotifiedAtOf(db: DbOrTx, integrationId: number): Promise<Date | undefined> {
  const [row] = await db.select({ at: max(t.lastNotifiedAt) }).from(t).where(and(eq(t.provider, PROVIDER), eq(t.integrationId, integrationId)));
  return row?.at ?? undefined;
}

/** Every Graph subscription row of `integrationId`. */
export function graphSubscriptionsOf(db: DbOrTx, integrationId: number): Promise<GraphSubscriptionRow[]> {
  return db.select().from(t).where(and(eq(t.provider, PROVIDER), eq(t.integrationId, integrationId)));
}

/** Stores a subscription Graph just created or renewed for `folder` of `integrationId` (one row per folder). */
export async function saveActiveSubscription(
  db: DbOrTx,
  integrationId: number,
  folder: GraphFolder,
  subscription: FolderSubscription,
  clientStateHash: string | undefined,
  now: Date,
): Promise<void> {
  const values = {
    subscriptionId: subscription.id,
    expiresAt: subscription.expiresAt,
    state: "active" as const,
    lastError: null,
    updatedAt: now,
    ...(clientStateHash ? { clientStateHash } : {}),
  };
  await db
    .insert(t)
    .values({ integrationId, provider: PROVIDER, folder, clientStateHash: clientStateHash ?? null, ...values })
    .onConflictDoUpdate({ target: [t.integrationId, t.provider, t.folder], set: values });
}

/** Records that `folder` of `integrationId` has no subscription: refused (with the operator's reason) or removed. */
export async function saveInactiveSubscription(
  db: DbOrTx,
  integrationId: number,
  folder: string,
  state: "refused" | "removed",
  reason: string | null,
  now: Date,
): Promise<void> {
  const values = { subscriptionId: null, clientStateHash: null, expiresAt: null, state, lastError: reason, updatedAt: now };
  await db
    .insert(t)
    .values({ integrationId, provider: PROVIDER, folder, ...values })
    .onConflictDoUpdate({ target: [t.integrationId, t.provider, t.folder], set: values });
}
