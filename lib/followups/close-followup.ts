// Closes a follow-up (`Fait`) when nothing more should be sent: its document is settled, the
// client answered, or it reached its last allowed send.

import { and, eq, ne } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { FOLLOWUP_STATUS, followups } from "../db/schema.js";

/** Sets the follow-up to `Fait`; a no-op when it already is. */
export async function closeFollowup(db: Db, followupId: number, now: Date): Promise<void> {
  await db
    .update(followups)
    .set({ status: FOLLOWUP_STATUS.done, updatedAt: now })
    .where(and(eq(followups.id, followupId), ne(followups.status, FOLLOWUP_STATUS.done)));
}
