// The row behind a mailbox's Gmail watch (`mail_push_subscriptions`, provider `gmail`, folder `*`:
// one watch covers INBOX and SENT). A watch has no id of Gmail's own; the row's `subscription_id`
// is the topic it publishes to with the integration's id after `#` (unique per provider, as the
// table's index wants, and a changed topic is seen as a watch to make again). A push is trusted for
// the address Gmail names only when that address is an active Gmail-API mailbox with an active watch:
// anything else is a push the product did not ask for, and does nothing.

import { and, eq, max, sql } from "drizzle-orm";
import type { DbOrTx } from "../db/client.js";
import { inboxIntegrations, mailPushSubscriptions } from "../db/schema.js";
import type { GmailWatch } from "./watch-mailbox.js";

export type GmailWatchRow = typeof mailPushSubscriptions.$inferSelect;

export const GMAIL_PROVIDER = "gmail";
/** One watch per mailbox, for every synced label. */
export const WATCH_FOLDER = "*";
const t = mailPushSubscriptions;

/** The row's `subscription_id` for a watch of `integrationId` on `topicName`. */
export function watchIdOf(topicName: string, integrationId: number): string {
  return `${topicName}#${integrationId}`;
}

/** The watch row of `integrationId`, whatever its state. */
export async function gmailWatchOf(db: DbOrTx, integrationId: number): Promise<GmailWatchRow | undefined> {
  const [row] = await db.select().from(t).where(and(eq(t.provider, GMAIL_PROVIDER), eq(t.integrationId, integrationId), eq(t.folder, WATCH_FOLDER)));
  return row;
}

/** Stores the watch `users.watch` just made or renewed. */
export async function saveActiveWatch(db: DbOrTx, integrationId: number, topicName: string, watch: GmailWatch, now: Date): Promise<void> {
  const values = { subscriptionId: watchIdOf(topicName, integrationId), clientStateHash: null, expiresAt: watch.expiresAt, state: "active" as const, lastError: null, updatedAt: now };
  await db
    .insert(t)
    .values({ integrationId, provider: GMAIL_PROVIDER, folder: WATCH_FOLDER, ...values })
    .onConflictDoUpdate({ target: [t.integrationId, t.provider, t.folder], set: values });
}

/** Records that `integrationId` has no watch: refused (with the operator's reason) or removed. */
export async function saveInactiveWatch(db: DbOrTx, integrationId: number, state: "refused" | "removed", reason: string | null, now: Date): Promise<void> {
  const values = { subscriptionId: null, clientStateHash: null, expiresAt: null, state, lastError: reason, updatedAt: now };
  await db
    .insert(t)
    .values({ integrationId, provider: GMAIL_PROVIDER, folder: WATCH_FOLDER, ...values })
    .onConflictDoUpdate({ target: [t.integrationId, t.provider, t.folder], set: values });
}

/**
 * Records the push on every active watch of an active Gmail-API mailbox at `emailAddress` (without
 * case) and makes those mailboxes due now; returns their ids, less those backing off after failures
 * (`consecutive_failures` > 0 keeps its back-off, as a Graph notice does: a push tells new mail
 * arrived, not that what made the sync fail is fixed).
 */
export async function markWatchedMailboxesDue(db: DbOrTx, emailAddress: string, now: Date): Promise<number[]> {
  const i = inboxIntegrations;
  const watched = await db
    .select({ id: i.id })
    .from(t)
    .innerJoin(i, eq(i.id, t.integrationId))
    .where(and(
      eq(t.provider, GMAIL_PROVIDER), eq(t.folder, WATCH_FOLDER), eq(t.state, "active"),
      eq(i.isActive, true), eq(i.mailTransport, "gmail-api"), sql`lower(${i.emailAddress}) = ${emailAddress.toLowerCase()}`,
    ));
  const due: number[] = [];
  for (const { id } of watched) {
    await db.update(t).set({ lastNotifiedAt: now, updatedAt: now })
      .where(and(eq(t.provider, GMAIL_PROVIDER), eq(t.integrationId, id), eq(t.folder, WATCH_FOLDER), eq(t.state, "active")));
    const [mailbox] = await db
      .update(i)
      .set({ nextSyncAt: sql`case when ${i.consecutiveFailures} = 0 then least(coalesce(${i.nextSyncAt}, ${now}), ${now}) else ${i.nextSyncAt} end` })
      .where(and(eq(i.id, id), eq(i.isActive, true)))
      .returning({ id: i.id, consecutiveFailures: i.consecutiveFailures });
    if (mailbox && mailbox.consecutiveFailures === 0) due.push(mailbox.id);
  }
  return due;
}

/** When a push for `integrationId`'s watch was last accepted; undefined if never. */
export async function lastWatchNotifiedAtOf(db: DbOrTx, integrationId: number): Promise<Date | undefined> {
  const [row] = await db.select({ at: max(t.lastNotifiedAt) }).from(t).where(and(eq(t.provider, GMAIL_PROVIDER), eq(t.integrationId, integrationId)));
  return row?.at ?? undefined;
}
