// The mailboxes as an operator sees them: health (last success, failing since, next attempt and
// back-off, whether the owner must connect it again), messages imported, set-aside messages.
// Passwords are never selected.

import { and, asc, count, eq, gt, ilike, inArray, or, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { companies, inboxIntegrations, inboxMessages, inboxQuarantine, SYNC_STATUS } from "../../db/schema.js";

export const MAILBOX_FILTERS = ["toutes", "en-echec", "a-reconnecter", "desactivees"] as const;
export type MailboxFilter = (typeof MAILBOX_FILTERS)[number];

export interface MailboxHealth {
  id: number;
  companyId: number;
  companyName: string | null;
  name: string | null;
  emailAddress: string | null;
  isActive: boolean;
  lastSyncAt: Date | null;
  lastSuccessAt: Date | null;
  lastSyncError: string | null;
  failingSince: Date | null;
  consecutiveFailures: number;
  nextSyncAt: Date | null;
  /** The wait between the last attempt and the next one, when failing. */
  backoffMs: number | null;
  /** The server refused the login: the owner must give a new password (or app password). */
  needsReconnection: boolean;
  /** A folder the sync stopped after repeated UIDVALIDITY changes (reset-folder lets it go on). */
  stoppedFolder: string | null;
  messagesImported: number;
  messagesImportedLastDay: number;
  setAside: number;
}

/** Enough for a page; a search narrows it. */
export const MAILBOXES_SHOWN = 200;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The mailboxes matching `filter` and `search` (address, name or company), failing ones first. */
export async function readMailboxes(db: Db, options: { filter: MailboxFilter; search?: string; now: Date }): Promise<MailboxHealth[]> {
  const t = inboxIntegrations;
  const conditions: (SQL | undefined)[] = [FILTER_CONDITIONS[options.filter]];
  const search = options.search?.trim();
  if (search) {
    const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    conditions.push(or(ilike(t.emailAddress, pattern), ilike(t.name, pattern), ilike(companies.name, pattern)));
  }
  const rows = await db
    .select({
      id: t.id, companyId: t.companyId, companyName: companies.name, name: t.name, emailAddress: t.emailAddress,
      isActive: t.isActive, lastSyncAt: t.lastSyncAt, lastSuccessAt: t.lastSuccessAt, lastSyncError: t.lastSyncError,
      failingSince: t.failingSince, consecutiveFailures: t.consecutiveFailures, authFailures: t.authFailures, nextSyncAt: t.nextSyncAt,
    })
    .from(t)
    .leftJoin(companies, eq(companies.id, t.companyId))
    .where(and(...conditions))
    .orderBy(sql`${t.failingSince} asc nulls last`, asc(t.id))
    .limit(MAILBOXES_SHOWN);
  const ids = rows.map((r) => r.id);
  const imported = ids.length
    ? await db
        .select({
          integrationId: inboxMessages.integrationId,
          total: count(),
          lastDay: sql<number>`count(*) filter (where ${inboxMessages.importedAt} > ${new Date(options.now.getTime() - DAY_MS).toISOString()}::timestamptz)`.mapWith(Number),
        })
        .from(inboxMessages)
        .where(inArray(inboxMessages.integrationId, ids))
        .groupBy(inboxMessages.integrationId)
    : [];
  const setAside = ids.length
    ? await db
        .select({ integrationId: inboxQuarantine.integrationId, total: count() })
        .from(inboxQuarantine)
        .where(inArray(inboxQuarantine.integrationId, ids))
        .groupBy(inboxQuarantine.integrationId)
    : [];
  return rows.map(({ authFailures, ...row }) => {
    const counts = imported.find((c) => c.integrationId === row.id);
    const isFailing = row.consecutiveFailures > 0;
    return {
      ...row,
      backoffMs: isFailing && row.nextSyncAt && row.lastSyncAt ? row.nextSyncAt.getTime() - row.lastSyncAt.getTime() : null,
      needsReconnection: authFailures > 0,
      // sync-mailbox.ts words the stop as "UIDVALIDITY of <folder> changed on N syncs in a row: sync stopped…".
      stoppedFolder: row.lastSyncError?.match(/^UIDVALIDITY of (.+) changed on \d+ syncs in a row/)?.[1] ?? null,
      messagesImported: counts?.total ?? 0,
      messagesImportedLastDay: counts?.lastDay ?? 0,
      setAside: setAside.find((c) => c.integrationId === row.id)?.total ?? 0,
    };
  });
}

const FILTER_CONDITIONS: Record<MailboxFilter, SQL | undefined> = {
  toutes: undefined,
  "en-echec": and(eq(inboxIntegrations.isActive, true), or(eq(inboxIntegrations.lastSyncStatus, SYNC_STATUS.error), gt(inboxIntegrations.consecutiveFailures, 0))),
  "a-reconnecter": gt(inboxIntegrations.authFailures, 0),
  desactivees: eq(inboxIntegrations.isActive, false),
};
