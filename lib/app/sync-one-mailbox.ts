// The sync of one mailbox a push notification made due: the inbox sync restricted to that
// integration, so it runs under the same lease as the cron's (a mailbox a cron run holds is not
// synced twice: the claim passes over it, and the cron run reads the new mail anyway).

import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { shortReason } from "../errors.js";
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

/** Syncs mailbox `integrationId` now; never throws (a failure is the sync's to record, the poll catches up). */
export async function syncOneMailbox(integrationId: number, options: SyncOneMailboxOptions): Promise<void> {
  try {
    await runJob(syncAllJob, { integrationId }, { ...options, trigger: "push" });
  } catch (err) {
    options.log.warn("pushed mailbox not synced: the next poll will", { integrationId, reason: shortReason(err) });
  }
}
