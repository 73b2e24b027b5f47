// The cursor of one folder of a source without UIDs (Graph): the link its delta round resumes from
// (`source_cursor`: a nextLink within a round, the deltaLink once a round is over), and whether the
// round being read is the recent window of a first sync or a resync (`backfill_until_uid` non-null,
// as for IMAP: what that round finds is backfill unless dated after the connection). `uidvalidity`
// and `last_uid` stay 0. Every write holds only while the run still holds the integration's lease.

import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { inboxFolderCursors } from "../../db/schema.js";
import { leaseHeldBy } from "../claim-integrations.js";
import type { CursorKey } from "../imap/cursor.js";

/** `backfill_until_uid` of a folder whose window round is being read (any non-null value says so). */
const WINDOW_ROUND = 1;

export interface SourceCursor {
  /** The link to read next; null: start a round without one (a first sync, or a resync). */
  link: string | null;
  /** The round being read is the recent window (first sync or resync). */
  isWindowRound: boolean;
}

/** The stored cursor of a folder, or null before its first sync. */
export async function readSourceCursor(db: Db, key: Omit<CursorKey, "owner">): Promise<SourceCursor | null> {
  const [row] = await db
    .select({ link: inboxFolderCursors.sourceCursor, backfillUntil: inboxFolderCursors.backfillUntilUid })
    .from(inboxFolderCursors)
    .where(cursorOf(key));
  return row ? { link: row.link, isWindowRound: row.backfillUntil !== null } : null;
}

/**
 * Starts a window round: the folder's first sync (the row created), or a resync after the source
 * refused the stored link (the link dropped). Returns false when the lease was lost.
 */
export async function startWindowRound(db: Db, key: CursorKey, now: Date): Promise<boolean> {
  await db
    .insert(inboxFolderCursors)
    .values({ integrationId: key.integrationId, folder: key.folder, uidValidity: 0, lastUid: 0, backfillUntilUid: WINDOW_ROUND, updatedAt: now })
    .onConflictDoNothing();
  const updated = await db
    .update(inboxFolderCursors)
    .set({ sourceCursor: null, backfillUntilUid: WINDOW_ROUND, updatedAt: now })
    .where(and(cursorOf(key), leaseHeldBy(db, key.integrationId, key.owner)))
    .returning({ id: inboxFolderCursors.id });
  return updated.length > 0;
}

/**
 * Stores `link` as where the folder resumes; `isRoundOver` (a deltaLink) ends the window round.
 * Returns false when the lease was lost.
 */
export async function moveSourceCursor(db: Db, key: CursorKey, link: string, isRoundOver: boolean, now: Date): Promise<boolean> {
  const updated = await db
    .update(inboxFolderCursors)
    .set({ sourceCursor: link, ...(isRoundOver ? { backfillUntilUid: null } : {}), updatedAt: now })
    .where(and(cursorOf(key), leaseHeldBy(db, key.integrationId, key.owner)))
    .returning({ id: inboxFolderCursors.id });
  return updated.length > 0;
}

function cursorOf(key: Omit<CursorKey, "owner">) {
  return and(eq(inboxFolderCursors.integrationId, key.integrationId), eq(inboxFolderCursors.folder, key.folder));
}
