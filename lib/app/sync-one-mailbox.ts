// The sync of one mailbox a push notification made due: the inbox sync restricted to that
// integration, so it runs under the same lease as the cron's (a mailbox a cron run holds is not
// synced twice: the claim passes over it, and the cron run reads the new mail anyway).
// A notice that comes while this sync holds the mailbox finds it held and its own run passes over
// it, yet this sync may have read the folder before that mail arrived, and its end pushes the
// mailbox's next sync a whole interval away: so when a notice came during the sync, it runs again
// (a few rounds at most; under a stream of notices the next notice's run takes over).

import type { Config } from "../config.js";
import { openDb, type Db } from "../db/client.js";
import { shortReason } from "../errors.js";
import { lastWatchNotifiedAtOf } from "../gmail/push-watch-rows.js";
import { lastNotifiedAtOf } from "../graph/push-subscription-rows.js";
import { syncAllJob } from "../inbox/sync-all.js";
import type { Invocation } from "../jobs/budget.js";
import { runJob } from "../jobs/run-job.js";
import type { Logger } from "../log.js";

export interface SyncOneMailboxOptions {
  config: Config;
  log: Logger;
  now?: () => Date;
  db?: Db;
  invocation?: Invocation;
}

/** How many times one notice's sync runs again for notices that came while it ran. */
const MAX_ROUNDS = 5;

/** Syncs mailbox `integrationId` now; never throws (a failure is the sync's to record, the poll catches up). */
export async function syncOneMailbox(integrationId: number, options: SyncOneMailboxOptions): Promise<void> {
  let opened: { db: Db; close(): Promise<void> } | undefined;
  try {
    opened = options.db ? undefined : await openDb(options.config.database);
    const db = options.db ?? opened!.db;
    // The last notice's time as this round starts: a later one changes it (compared as written by
    // the notices, not against this process's clock, which may be another instance's or a test's).
    let notifiedAt = await lastPushAtOf(db, integrationId);
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const summary = await runJob(syncAllJob, { integrationId }, { ...options, db, trigger: "push" });
      // Passed over (another run holds it) or failed: nothing to run again for.
      if (summary.integrations.succeeded === 0) return;
      const latest = await lastPushAtOf(db, integrationId);
      if (latest === undefined || (notifiedAt !== undefined && latest.getTime() <= notifiedAt.getTime())) return;
      notifiedAt = latest;
    }
  } catch (err) {
    options.log.warn("pushed mailbox not synced: the next poll will", { integrationId, reason: shortReason(err) });
  } finally {
    await opened?.close();
  }
}

/** The last push accepted for the mailbox, a Graph notice or a Gmail push. */
async function lastPushAtOf(db: Db, integrationId: number): Promise<Date | undefined> {
  const times = [await lastNotifiedAtOf(db, integrationId), await lastWatchNotifiedAtOf(db, integrationId)].filter((d) => d !== undefined);
  return times.length ? new Date(Math.max(...times.map((d) => d.getTime()))) : undefined;
}
