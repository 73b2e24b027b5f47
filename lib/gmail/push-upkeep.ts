// The upkeep of Gmail watches, one per active Gmail-API mailbox (INBOX and SENT to the deployment's
// Pub/Sub topic): made when missing or pointed at another topic, renewed a day after it was made
// (watch-renewal.ts), recorded `refused` when Google will not give one (the topic unknown to the
// app's project, publish rights missing), and stopped once the mailbox is disabled, removed or moved
// to another transport. Polling stays the safety net: a mailbox without a working watch is only
// slower, never missed.

import { and, eq, ne, or } from "drizzle-orm";
import { inboxIntegrations, mailPushSubscriptions } from "../db/schema.js";
import { shortReason } from "../errors.js";
import type { AccessTokenDeps } from "../oauth/access-token.js";
import type { GmailClient } from "./gmail-client.js";
import { GmailApiError } from "./gmail-request.js";
import { gmailClientFor } from "./integration-client.js";
import { GMAIL_PROVIDER, type GmailWatchRow, gmailWatchOf, saveActiveWatch, saveInactiveWatch, watchIdOf } from "./push-watch-rows.js";
import { stopWatch } from "./stop-watch.js";
import { watchMailbox } from "./watch-mailbox.js";
import { isWatchRenewalDue } from "./watch-renewal.js";

/** A refused watch is asked for again after this long: the topic's rights may have been fixed. */
export const REFUSED_WATCH_RETRY_MS = 24 * 3_600_000;

export interface GmailWatchUpkeepDeps extends AccessTokenDeps {
  /** `projects/<project>/topics/<topic>` (GMAIL_PUBSUB_TOPIC). */
  topicName: string;
  /** When to stop starting Gmail calls (the run's budget); none: never. */
  shouldStop?: () => boolean;
  /** Tests: the Gmail client of an integration (its own token otherwise). */
  clientFor?: (integration: { id: number }) => GmailClient;
}

export interface GmailWatchUpkeepSummary {
  watched: number;
  renewed: number;
  refused: number;
  stopped: number;
  failed: number;
}

/** One pass over every Gmail-API mailbox and every Gmail watch row; never throws for one mailbox. */
export async function keepGmailWatches(deps: GmailWatchUpkeepDeps): Promise<GmailWatchUpkeepSummary> {
  const summary: GmailWatchUpkeepSummary = { watched: 0, renewed: 0, refused: 0, stopped: 0, failed: 0 };
  const i = inboxIntegrations;
  const s = mailPushSubscriptions;
  const mailboxes = await deps.db.select({ id: i.id }).from(i).where(and(eq(i.isActive, true), eq(i.mailTransport, "gmail-api")));
  const leaving = await deps.db
    .selectDistinct({ id: i.id })
    .from(s)
    .innerJoin(i, eq(i.id, s.integrationId))
    .where(and(eq(s.provider, GMAIL_PROVIDER), eq(s.state, "active"), or(eq(i.isActive, false), ne(i.mailTransport, "gmail-api"))));
  for (const mailbox of mailboxes) {
    if (deps.shouldStop?.()) break;
    await keepMailbox(deps, mailbox, summary);
  }
  for (const mailbox of leaving) {
    if (deps.shouldStop?.()) break;
    await stopMailbox(deps, mailbox, summary);
  }
  if (summary.watched + summary.renewed + summary.refused + summary.stopped + summary.failed > 0) deps.log.info("gmail watches kept", { ...summary });
  return summary;
}

async function keepMailbox(deps: GmailWatchUpkeepDeps, mailbox: { id: number }, summary: GmailWatchUpkeepSummary): Promise<void> {
  try {
    const row = await gmailWatchOf(deps.db, mailbox.id);
    const action = actionFor(row, mailbox.id, deps.topicName, deps.now());
    if (action === "none") return;
    try {
      const watch = await watchMailbox(clientOf(deps, mailbox), deps.topicName);
      await saveActiveWatch(deps.db, mailbox.id, deps.topicName, watch, deps.now());
      summary[action === "renew" ? "renewed" : "watched"]++;
    } catch (err) {
      if (!isRefusal(err)) throw err;
      await saveInactiveWatch(deps.db, mailbox.id, "refused", `Google a refusé la surveillance de la boîte (${shortReason(err)}) : elle est relevée périodiquement`, deps.now());
      summary.refused++;
    }
  } catch (err) {
    // Google down, the token refused: the watch stays as it was, the next run tries again; polling goes on.
    summary.failed++;
    deps.log.warn("gmail watch not kept", { integrationId: mailbox.id, reason: shortReason(err) });
  }
}

async function stopMailbox(deps: GmailWatchUpkeepDeps, mailbox: { id: number }, summary: GmailWatchUpkeepSummary): Promise<void> {
  // Marked removed first: a push arriving meanwhile is then ignored.
  await saveInactiveWatch(deps.db, mailbox.id, "removed", null, deps.now());
  summary.stopped++;
  try {
    await stopWatch(clientOf(deps, mailbox));
  } catch (err) {
    // Its token may be gone with it: Gmail drops the watch at its expiry, and its pushes are already ignored.
    deps.log.warn("gmail watch not stopped", { integrationId: mailbox.id, reason: shortReason(err) });
  }
}

/** What the mailbox's watch needs now. */
function actionFor(row: GmailWatchRow | undefined, integrationId: number, topicName: string, now: Date): "none" | "renew" | "watch" {
  if (row?.state === "refused" && now.getTime() - row.updatedAt.getTime() < REFUSED_WATCH_RETRY_MS) return "none";
  if (!row || row.state !== "active") return "watch";
  const isSameTopic = row.subscriptionId === watchIdOf(topicName, integrationId);
  if (!isWatchRenewalDue({ expiresAt: row.expiresAt, topicName: isSameTopic ? topicName : null }, topicName, now)) return "none";
  return isSameTopic && row.expiresAt && row.expiresAt > now ? "renew" : "watch";
}

/** Google declined the watch itself (a bad topic, no publish right), as opposed to failing to answer. */
function isRefusal(err: unknown): boolean {
  return err instanceof GmailApiError && (err.status === 400 || err.status === 403 || err.status === 404) && err.kind !== "transient";
}

function clientOf(deps: GmailWatchUpkeepDeps, mailbox: { id: number }): GmailClient {
  return deps.clientFor?.(mailbox) ?? gmailClientFor(mailbox, deps);
}
