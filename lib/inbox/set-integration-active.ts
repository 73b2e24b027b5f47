// Turns a mailbox's sync off or on (the operator's page). Off: no run claims it any more. On: it is
// due at the next run, with its failure counters kept, so a still-wrong password backs off as before.

import { eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { inboxIntegrations } from "../db/schema.js";
import { JobError } from "../errors.js";

/** Sets `is_active` of integration `integrationId`; throws `JobError("bad-input")` when there is none. */
export async function setIntegrationActive(db: Db, integrationId: number, isActive: boolean, now: Date): Promise<void> {
  const updated = await db
    .update(inboxIntegrations)
    .set(isActive ? { isActive, nextSyncAt: null, updatedAt: now } : { isActive, updatedAt: now })
    .where(eq(inboxIntegrations.id, integrationId))
    .returning({ id: inboxIntegrations.id });
  if (updated.length === 0) throw new JobError("bad-input", `no integration ${integrationId}`);
}
