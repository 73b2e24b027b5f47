// The UID cursor of one folder of one integration (RFC 3501 §2.3.1.1): the UIDVALIDITY it belongs to
// and the last UID imported. It only moves forward, and only while the run still holds the lease.

import { and, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { inboxFolderCursors } from "../../db/schema.js";
import { leaseHeldBy } from "../claim-integrations.js";

export interface FolderCursor {
  uidValidity: number;
  lastUid: number;
  /** UIDs up to this one are imported only inside the recent window, as backfill (see the schema). */
  backfillUntilUid: number | null;
  /** How many syncs in a row found a new UIDVALIDITY. */
  uidValidityChanges: number;
  /** The folder is opened with SELECT: its server renumbers read-only sessions (`lock-folder.ts`). */
  opensReadWrite?: boolean;
}

export interface CursorKey {
  integrationId: number;
  folder: string;
  /** The lease holder; every write is void once another run owns the integration. */
  owner: string;
}

/**
 * Whether the open folder has nothing after the cursor, as its UIDNEXT (from EXAMINE) shows: then no
 * UID SEARCH is needed, which spares an idle mailbox a round trip. A server that gives no UIDNEXT
 * (0) and an unfinished backfill always search.
 */
export function isCaughtUp(cursor: FolderCursor, uidNext: number): boolean {
  const isBackfillDone = cursor.backfillUntilUid === null || cursor.lastUid >= cursor.backfillUntilUid;
  return isBackfillDone && uidNext > 0 && uidNext - 1 <= cursor.lastUid;
}

/** The stored cursor of a folder, or null before its first sync. */
export async function readCursor(db: Db, key: Omit<CursorKey, "owner">): Promise<FolderCursor | null> {
  const [row] = await db
    .select({
      uidValidity: inboxFolderCursors.uidValidity,
      lastUid: inboxFolderCursors.lastUid,
      backfillUntilUid: inboxFolderCursors.backfillUntilUid,
      uidValidityChanges: inboxFolderCursors.uidValidityChanges,
      opensReadWrite: inboxFolderCursors.opensReadWrite,
    })
    .from(inboxFolderCursors)
    .where(and(eq(inboxFolderCursors.integrationId, key.integrationId), eq(inboxFolderCursors.folder, key.folder)));
  return row ?? null;
}

/**
 * Starts the cursor of a first sync or of a resync after a UIDVALIDITY change: imports resume after
 * `lastUid`, and up to `backfillUntilUid` they are backfill. A reset counts one more consecutive
 * change. Returns false when the lease was lost.
 */
export async function startCursor(
  db: Db,
  key: CursorKey,
  start: { uidValidity: number; lastUid: number; backfillUntilUid: number; isUidValidityChange: boolean },
  now: Date,
): Promise<boolean> {
  const values = {
    uidValidity: start.uidValidity,
    lastUid: start.lastUid,
    backfillUntilUid: start.backfillUntilUid,
    updatedAt: now,
  };
  if (!start.isUidValidityChange) {
    // First sync: a concurrent first sync by a former lease holder may have created it; either is fine.
    await db
      .insert(inboxFolderCursors)
      .values({ integrationId: key.integrationId, folder: key.folder, ...values })
      .onConflictDoNothing();
    return stillOwned(db, key);
  }
  const current = await readCursor(db, key);
  const updated = await db
    .update(inboxFolderCursors)
    .set({ ...values, uidValidityChanges: (current?.uidValidityChanges ?? 0) + 1 })
    .where(and(...cursorOf(key), leaseHeldBy(db, key.integrationId, key.owner)))
    .returning({ id: inboxFolderCursors.id });
  return updated.length > 0;
}

/**
 * Moves the cursor forward to `lastUid` (never back). Returns false when the lease was lost. One
 * statement: the row comes back whenever the lease is held, moved or not (already past, or of
 * another UIDVALIDITY).
 */
export async function advanceCursor(
  db: Db,
  key: CursorKey,
  position: { uidValidity: number; lastUid: number },
  now: Date,
): Promise<boolean> {
  const c = inboxFolderCursors;
  const isMove = and(eq(c.uidValidity, position.uidValidity), lt(c.lastUid, position.lastUid));
  const updated = await db
    .update(c)
    .set({
      lastUid: sql`case when ${isMove} then ${position.lastUid}::bigint else ${c.lastUid} end`,
      updatedAt: sql`case when ${isMove} then ${now.toISOString()}::timestamptz else ${c.updatedAt} end`,
    })
    .where(and(...cursorOf(key), leaseHeldBy(db, key.integrationId, key.owner)))
    .returning({ id: c.id });
  return updated.length > 0;
}

/** A sync that found the same UIDVALIDITY again: the run of consecutive changes is over. */
export async function markUidValidityStable(db: Db, key: CursorKey): Promise<void> {
  await db
    .update(inboxFolderCursors)
    .set({ uidValidityChanges: 0 })
    .where(and(...cursorOf(key), leaseHeldBy(db, key.integrationId, key.owner)));
}

function cursorOf(key: Omit<CursorKey, "owner">) {
  return [eq(inboxFolderCursors.integrationId, key.integrationId), eq(inboxFolderCursors.folder, key.folder)];
}

async function stillOwned(db: Db, key: CursorKey): Promise<boolean> {
  const [row] = await db
    .select({ id: inboxFolderCursors.id })
    .from(inboxFolderCursors)
    .where(and(...cursorOf(key), leaseHeldBy(db, key.integrationId, key.owner)));
  return row !== undefined;
}
