// The mailboxes as an operator sees them: their state (`../mailbox-state.ts`: failing since when,
// next attempt and back-off, whether the owner must connect it again), how they log in, which
// folders they sync, messages imported, set-aside messages. Passwords and tokens are never selected.

import { and, asc, count, eq, gt, ilike, inArray, isNotNull, or, sql, type SQL } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import {
  companies, inboxFolderCursors, inboxIntegrations, inboxMessages, inboxQuarantine, mailPushSubscriptions, type MailTransport, SYNC_STATUS,
} from "../../db/schema.js";
import { type PushState, pushStateOf } from "../mailbox-push-state.js";
import { MAILBOX_STATE_COLUMNS, type MailboxState, mailboxStateOf, type MailboxStateRow } from "../mailbox-state.js";

export const MAILBOX_FILTERS = ["toutes", "en-echec", "a-reconnecter", "desactivees"] as const;
export type MailboxFilter = (typeof MAILBOX_FILTERS)[number];

export interface MailboxHealth extends MailboxStateRow {
  companyName: string | null;
  name: string | null;
  emailAddress: string | null;
  lastSyncAt: Date | null;
  state: MailboxState;
  /** How its mail is read and sent, and why when chosen automatically. */
  mailTransport: MailTransport;
  mailTransportReason: string | null;
  syncIntervalMinutes: number;
  /** Whether its provider pushes new mail, or it is only polled. */
  push: PushState;
  /** The wait between the last attempt and the next one, when failing. */
  backoffMs: number | null;
  messagesImported: number;
  messagesImportedLastDay: number;
  setAside: number;
  /** The folders other than INBOX a sync has read (its Sent folders), or null before INBOX was first read. */
  sentFoldersRead: string[] | null;
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
      ...MAILBOX_STATE_COLUMNS, companyName: companies.name, name: t.name, emailAddress: t.emailAddress, lastSyncAt: t.lastSyncAt,
      mailTransport: t.mailTransport, mailTransportReason: t.mailTransportReason, syncIntervalMinutes: t.syncIntervalMinutes,
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
  const cursors = ids.length
    ? await db
        .select({ integrationId: inboxFolderCursors.integrationId, folder: inboxFolderCursors.folder })
        .from(inboxFolderCursors)
        .where(inArray(inboxFolderCursors.integrationId, ids))
        .orderBy(asc(inboxFolderCursors.folder))
    : [];
  const p = mailPushSubscriptions;
  const pushRows = ids.length
    ? await db
        .select({ integrationId: p.integrationId, provider: p.provider, folder: p.folder, state: p.state, expiresAt: p.expiresAt, lastError: p.lastError, lastNotifiedAt: p.lastNotifiedAt })
        .from(p)
        .where(inArray(p.integrationId, ids))
    : [];
  return rows.map((row) => {
    const folders = cursors.filter((c) => c.integrationId === row.id).map((c) => c.folder);
    const counts = imported.find((c) => c.integrationId === row.id);
    const isFailing = row.consecutiveFailures > 0;
    return {
      ...row,
      state: mailboxStateOf(row, options.now),
      push: pushStateOf(row.mailTransport, pushRows.filter((r) => r.integrationId === row.id), options.now),
      backoffMs: isFailing && row.nextSyncAt && row.lastSyncAt ? row.nextSyncAt.getTime() - row.lastSyncAt.getTime() : null,
      messagesImported: counts?.total ?? 0,
      messagesImportedLastDay: counts?.lastDay ?? 0,
      setAside: setAside.find((c) => c.integrationId === row.id)?.total ?? 0,
      sentFoldersRead: folders.includes("INBOX") ? folders.filter((f) => f !== "INBOX") : null,
    };
  });
}

const FILTER_CONDITIONS: Record<MailboxFilter, SQL | undefined> = {
  toutes: undefined,
  "en-echec": and(eq(inboxIntegrations.isActive, true), or(eq(inboxIntegrations.lastSyncStatus, SYNC_STATUS.error), gt(inboxIntegrations.consecutiveFailures, 0))),
  "a-reconnecter": or(gt(inboxIntegrations.authFailures, 0), isNotNull(inboxIntegrations.oauthReconnectNeededAt)),
  desactivees: eq(inboxIntegrations.isActive, false),
};
