// Records how a sync of one integration ended (status, error, failure counters, next run time) and
// ends the run's lease on it, in one owner-checked statement.

import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { SYNC_STATUS, inboxIntegrations } from "../db/schema.js";
import { ERROR_KINDS, type ErrorKind } from "../errors.js";

const MINUTE_MS = 60_000;
/** Transient failures back off exponentially from the sync interval up to this. */
export const MAX_TRANSIENT_BACKOFF_MS = 60 * MINUTE_MS;
/** A refused login or a setting that cannot work waits longer: retrying soon would only fail again (and may lock the account). */
export const AUTH_FIRST_BACKOFF_MS = 30 * MINUTE_MS;
export const MAX_AUTH_BACKOFF_MS = 12 * 60 * MINUTE_MS;

export interface SyncSuccess {
  /** The folder still has messages to import: due again at once, so the next ping continues. */
  hasMore: boolean;
}

/** Success: counters cleared, due again after `sync_interval_minutes` (or at once when unfinished). */
export async function recordSyncSuccess(
  db: Db,
  integration: { id: number; syncIntervalMinutes: number },
  owner: string,
  result: SyncSuccess,
  now: Date,
): Promise<void> {
  const nextSyncAt = result.hasMore ? now : new Date(now.getTime() + Math.max(1, integration.syncIntervalMinutes) * MINUTE_MS);
  await db
    .update(inboxIntegrations)
    .set({
      ...successFields(now),
      nextSyncAt,
      leaseOwner: null,
      leaseUntil: null,
      updatedAt: now,
    })
    .where(and(eq(inboxIntegrations.id, integration.id), eq(inboxIntegrations.leaseOwner, owner)));
}

/**
 * Success of several integrations finished with nothing left (idle or caught up), in one statement:
 * the same fields as `recordSyncSuccess`, each due again after its own `sync_interval_minutes`.
 * Only rows `owner` still holds change. A fleet of idle mailboxes then costs one write per batch.
 */
export async function recordSyncSuccesses(db: Db, integrationIds: number[], owner: string, now: Date): Promise<void> {
  if (integrationIds.length === 0) return;
  const t = inboxIntegrations;
  await db
    .update(t)
    .set({
      ...successFields(now),
      nextSyncAt: sql`${now.toISOString()}::timestamptz + greatest(1, ${t.syncIntervalMinutes}) * interval '1 minute'`,
      leaseOwner: null,
      leaseUntil: null,
      updatedAt: now,
    })
    .where(and(inArray(t.id, integrationIds), eq(t.leaseOwner, owner)));
}

/**
 * Failure: `reason` (short, no secret) stored, counters raised, next run pushed back. Transient
 * failures back off from the sync interval, doubling, up to an hour; auth failures (and settings that
 * cannot work) start at 30 minutes and double up to 12 hours, and are counted apart in `auth_failures`.
 */
export async function recordSyncFailure(
  db: Db,
  integration: { id: number; syncIntervalMinutes: number; consecutiveFailures: number; authFailures: number },
  owner: string,
  failure: { kind: ErrorKind; reason: string },
  now: Date,
): Promise<void> {
  const isAuth = failure.kind === "auth";
  const delayMs = backoffMs(integration, failure.kind);
  await db
    .update(inboxIntegrations)
    .set({
      lastSyncAt: now,
      lastSyncStatus: SYNC_STATUS.error,
      lastSyncError: failure.reason,
      lastSyncErrorKind: failure.kind,
      consecutiveFailures: sql`${inboxIntegrations.consecutiveFailures} + 1`,
      authFailures: isAuth ? sql`${inboxIntegrations.authFailures} + 1` : 0,
      failingSince: sql`coalesce(${inboxIntegrations.failingSince}, ${now.toISOString()}::timestamptz)`,
      nextSyncAt: new Date(now.getTime() + delayMs),
      leaseOwner: null,
      leaseUntil: null,
      updatedAt: now,
    })
    .where(and(eq(inboxIntegrations.id, integration.id), eq(inboxIntegrations.leaseOwner, owner)));
}

/** How long to wait after this failure, given the failures before it: short when its kind is worth retrying soon. */
export function backoffMs(
  integration: { syncIntervalMinutes: number; consecutiveFailures: number; authFailures: number },
  kind: ErrorKind,
): number {
  if (ERROR_KINDS[kind].shouldRetry) {
    const base = Math.max(1, integration.syncIntervalMinutes) * MINUTE_MS;
    return Math.min(base * 2 ** Math.min(integration.consecutiveFailures, 20), MAX_TRANSIENT_BACKOFF_MS);
  }
  const previous = kind === "auth" ? integration.authFailures : integration.consecutiveFailures;
  return Math.min(AUTH_FIRST_BACKOFF_MS * 2 ** Math.min(previous, 20), MAX_AUTH_BACKOFF_MS);
}

/** What any success clears and stamps, whether recorded alone or in a batch. */
function successFields(now: Date) {
  return {
    lastSyncAt: now,
    lastSyncStatus: SYNC_STATUS.success,
    lastSyncError: null,
    lastSyncErrorKind: null,
    lastSuccessAt: now,
    consecutiveFailures: 0,
    authFailures: 0,
    failingSince: null,
  };
}
