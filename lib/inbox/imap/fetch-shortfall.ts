// A FETCH that returns fewer messages than the UID SEARCH just before announced. Usually a message
// expunged in between; GNU Mailutils imap4d also did it with a message it kept (Maildir new/). The
// cursor moves past them either way (waiting for them would block the folder for good), so it is
// said in the log and counted on the folder's cursor row, where an operator can see it.

import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { inboxFolderCursors } from "../../db/schema.js";
import type { Logger } from "../../log.js";
import { leaseHeldBy } from "../claim-integrations.js";
import type { CursorKey } from "./cursor.js";

/** Logs and counts `missingUids` of the folder `key`. */
export async function recordFetchShortfall(db: Db, key: CursorKey, missingUids: number[], now: Date, log: Logger): Promise<void> {
  log.warn("UID SEARCH announced messages the FETCH did not return: the cursor moves past them", { folder: key.folder, missingUids });
  const c = inboxFolderCursors;
  await db
    .update(c)
    .set({ fetchShortfallMessages: sql`${c.fetchShortfallMessages} + ${missingUids.length}`, fetchShortfallAt: now })
    .where(and(eq(c.integrationId, key.integrationId), eq(c.folder, key.folder), leaseHeldBy(db, key.integrationId, key.owner)));
}
