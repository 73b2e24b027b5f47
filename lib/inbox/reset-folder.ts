// Lets a folder stopped after repeated UIDVALIDITY changes (sync-mailbox.ts) sync again, once the
// server has settled. Only the count of consecutive changes is reset: the cursor keeps its old
// UIDVALIDITY, so the next sync sees a change and imports the recent window again as backfill, and
// dedupe keys recognise what is already stored. No imported message is touched.

import { and, eq, like } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { inboxFolderCursors, inboxIntegrations } from "../db/schema.js";
import { JobError } from "../errors.js";

export interface FolderReset {
  /** How many consecutive UIDVALIDITY changes the folder had counted. */
  previousChanges: number;
  /** The integration's error was this folder's stop, and was cleared. */
  isErrorCleared: boolean;
}

/**
 * Resets `folder`'s run of UIDVALIDITY changes and makes the integration due now. Throws
 * `JobError("bad-input")` when the integration or the folder's cursor does not exist.
 */
export async function resetFolder(db: Db, integrationId: number, folder: string, now: Date): Promise<FolderReset> {
  return db.transaction(async (tx) => {
    const [cursor] = await tx
      .select({ id: inboxFolderCursors.id, changes: inboxFolderCursors.uidValidityChanges })
      .from(inboxFolderCursors)
      .where(and(eq(inboxFolderCursors.integrationId, integrationId), eq(inboxFolderCursors.folder, folder)))
      .for("update");
    if (!cursor) throw new JobError("bad-input", `integration ${integrationId} has no cursor for folder ${JSON.stringify(folder)}: nothing to reset`);
    await tx.update(inboxFolderCursors).set({ uidValidityChanges: 0, updatedAt: now }).where(eq(inboxFolderCursors.id, cursor.id));
    // The stop's message starts with this (sync-mailbox.ts); only that error is cleared here.
    const stopMessage = `UIDVALIDITY of ${folder} changed on %`;
    const cleared = await tx
      .update(inboxIntegrations)
      .set({ lastSyncError: null, lastSyncErrorKind: null, consecutiveFailures: 0, failingSince: null, nextSyncAt: null, updatedAt: now })
      .where(and(eq(inboxIntegrations.id, integrationId), like(inboxIntegrations.lastSyncError, stopMessage)))
      .returning({ id: inboxIntegrations.id });
    if (cleared.length === 0) {
      await tx.update(inboxIntegrations).set({ nextSyncAt: null, updatedAt: now }).where(eq(inboxIntegrations.id, integrationId));
    }
    return { previousChanges: cursor.changes, isErrorCleared: cleared.length > 0 };
  });
}
