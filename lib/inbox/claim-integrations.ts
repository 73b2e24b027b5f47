// Claims due integrations (read over IMAP or Microsoft Graph: `integration_type` 'imap' for both) for one run, with a lease, and the owner checks that keep a run whose
// lease expired from overwriting a newer owner's work. The only `FOR UPDATE SKIP LOCKED` statement.

import { and, asc, count, eq, exists, inArray, isNull, lt, lte, notInArray, or, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { INTEGRATION_TYPE_IMAP, inboxIntegrations, type MailTransport } from "../db/schema.js";

export type ClaimedIntegration = typeof inboxIntegrations.$inferSelect;

export interface ClaimOptions {
  /** Who holds the lease (the run id). */
  owner: string;
  /** How long the lease lasts: past it, another run may take the integration (its owner crashed). */
  leaseMs: number;
  limit: number;
  now: Date;
  /** Claim this integration whether due or not (still only when active and not leased by another run). */
  integrationId?: number;
  /** Pass over integrations on these IMAP hosts (`imapHostKey`): the run has as many sessions there as it may. */
  excludedHosts?: string[];
  /** Pass over these integrations (turned away by their busy host too often this run: left to the next). */
  excludedIds?: number[];
}

/**
 * The key of the host an integration's sync holds a session on, as the claim compares it: its IMAP
 * server, trimmed, lower-cased. A Graph mailbox is its own key: Graph's limits are per mailbox
 * (kept by its client), and it must not take a slot of the IMAP server its row may still name.
 */
export function imapHostKey(integration: { imapServer: string | null; mailTransport: MailTransport; emailAddress: string | null }): string {
  if (integration.mailTransport === "graph") return `${GRAPH_HOST_KEY_PREFIX}${(integration.emailAddress ?? "").trim().toLowerCase()}`;
  return (integration.imapServer ?? "").trim().toLowerCase();
}

const GRAPH_HOST_KEY_PREFIX = "graph:";

/** A key `imapHostKey` gave a Graph mailbox (its own, one session at a time), not an IMAP server. */
export function isGraphHostKey(hostKey: string): boolean {
  return hostKey.startsWith(GRAPH_HOST_KEY_PREFIX);
}

/** `imapHostKey` in SQL, for the claim's exclusion. */
function hostKeySql(): SQL {
  const t = inboxIntegrations;
  return sql`case when ${t.mailTransport} = 'graph' then ${GRAPH_HOST_KEY_PREFIX} || lower(trim(coalesce(${t.emailAddress}, ''))) else lower(trim(coalesce(${t.imapServer}, ''))) end`;
}

/**
 * Leases up to `limit` due integrations to `owner` and returns them, most overdue first: never synced,
 * then by `next_sync_at` (the last sync plus its interval, or its back-off), so under overload every
 * mailbox's wait stays bounded by the backlog ahead of it and none starves.
 *
 * Why two runs never get the same row: the inner SELECT locks the rows it picks with FOR UPDATE SKIP
 * LOCKED, so a concurrent claimer passes over rows another transaction is claiming; once that
 * transaction commits, the row's `lease_until` lies in the future and the lease condition excludes it
 * for every later claimer until the lease ends. Owner and expiry are written by the same statement
 * that picked the row, so there is no moment when a row is picked but not yet leased.
 */
export async function claimDueIntegrations(db: Db, options: ClaimOptions): Promise<ClaimedIntegration[]> {
  const t = inboxIntegrations;
  const leaseUntil = new Date(options.now.getTime() + options.leaseMs);
  const chosen = db
    .select({ id: t.id })
    .from(t)
    .where(
      and(
        isClaimable(options.now),
        options.integrationId === undefined ? isDue(options.now) : eq(t.id, options.integrationId),
        options.excludedHosts?.length ? notInArray(hostKeySql(), options.excludedHosts) : undefined,
        options.excludedIds?.length ? notInArray(t.id, options.excludedIds) : undefined,
      ),
    )
    .orderBy(sql`${t.nextSyncAt} asc nulls first`, asc(t.id))
    .limit(options.limit)
    .for("update", { skipLocked: true });
  const claimed = await db
    .update(t)
    .set({ leaseOwner: options.owner, leaseUntil, updatedAt: options.now })
    .where(inArray(t.id, chosen))
    .returning();
  // RETURNING keeps no order: restore the subquery's (never synced first, then longest due).
  return claimed.sort((a, b) => (a.nextSyncAt?.getTime() ?? -Infinity) - (b.nextSyncAt?.getTime() ?? -Infinity) || a.id - b.id);
}

/** Active IMAP integrations that are not claimable now (not due yet, or leased by another run). */
export async function countNotDueIntegrations(db: Db, now: Date): Promise<number> {
  const t = inboxIntegrations;
  const [row] = await db
    .select({ n: count() })
    .from(t)
    .where(and(eq(t.isActive, true), eq(t.integrationType, INTEGRATION_TYPE_IMAP), sql`not (${isClaimable(now)} and ${isDue(now)})`));
  return row?.n ?? 0;
}

/** Active IMAP integrations a run could claim right now. */
export async function countDueIntegrations(db: Db, now: Date): Promise<number> {
  const [row] = await db.select({ n: count() }).from(inboxIntegrations).where(and(isClaimable(now), isDue(now)));
  return row?.n ?? 0;
}

/** Ends `owner`'s lease on integrations without recording anything (work not started), in one statement. */
export async function releaseIntegration(db: Db, integrationIds: number | number[], owner: string): Promise<void> {
  const ids = Array.isArray(integrationIds) ? integrationIds : [integrationIds];
  if (ids.length === 0) return;
  await db
    .update(inboxIntegrations)
    .set({ leaseOwner: null, leaseUntil: null })
    .where(and(inArray(inboxIntegrations.id, ids), eq(inboxIntegrations.leaseOwner, owner)));
}

/**
 * A condition true while `owner` still holds the integration's lease, for statements on other
 * tables (cursor moves). Expiry alone does not revoke it: only a newer owner's claim does, and a
 * claim replaces `lease_owner`, so a late write of the old owner then changes nothing.
 */
export function leaseHeldBy(db: Db, integrationId: number, owner: string): SQL {
  return exists(
    db
      .select({ one: sql`1` })
      .from(inboxIntegrations)
      .where(and(eq(inboxIntegrations.id, integrationId), eq(inboxIntegrations.leaseOwner, owner))),
  );
}

function isClaimable(now: Date): SQL {
  const t = inboxIntegrations;
  return and(
    eq(t.isActive, true),
    eq(t.integrationType, INTEGRATION_TYPE_IMAP),
    // An OAuth2 mailbox whose grant the provider refused waits for a person to connect it again:
    // retrying could only fail the same way.
    isNull(t.oauthReconnectNeededAt),
    or(isNull(t.leaseUntil), lt(t.leaseUntil, now)),
  ) as SQL;
}

function isDue(now: Date): SQL {
  return or(isNull(inboxIntegrations.nextSyncAt), lte(inboxIntegrations.nextSyncAt, now)) as SQL;
}
