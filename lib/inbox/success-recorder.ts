// Gathers the successes of a run's idle (or caught-up) mailboxes and records them in batches: with
// many mailboxes synced at once, one UPDATE per batch instead of one per mailbox.

import { shortReason } from "../errors.js";
import type { Db } from "../db/client.js";
import type { Logger } from "../log.js";
import { recordSyncSuccesses } from "./record-sync-result.js";

/** Successes written together; a batch also goes out when the run ends. */
const BATCH_SIZE = 16;

export interface SuccessRecorder {
  /** Queues a success (the mailbox keeps its lease until its batch is written). */
  add(integrationId: number): void;
  /** Writes what is queued and waits for every write. Never throws. */
  close(): Promise<void>;
}

/**
 * A recorder for `owner`'s run. A batch that cannot be written is logged, not retried: its mailboxes'
 * cursors already moved, so their next sync (once the lease expires) finds nothing new to import.
 */
export function createSuccessRecorder(deps: { db: Db; owner: string; now: () => Date; log: Logger }): SuccessRecorder {
  let pending: number[] = [];
  const writes = new Set<Promise<void>>();
  const flush = () => {
    if (pending.length === 0) return;
    const ids = pending;
    pending = [];
    const write: Promise<void> = recordSyncSuccesses(deps.db, ids, deps.owner, deps.now())
      .catch((err: unknown) => deps.log.warn("sync results not recorded", { integrations: ids.length, error: shortReason(err) }))
      .finally(() => writes.delete(write));
    writes.add(write);
  };
  return {
    add: (integrationId) => {
      pending.push(integrationId);
      if (pending.length >= BATCH_SIZE) flush();
    },
    close: async () => {
      flush();
      await Promise.all([...writes]);
    },
  };
}
