// Runs that will never record their end: a process killed (kill -9, a platform's time-out, a
// crash) or cut off from the database leaves its `job_runs` row `running`. Once the run's lease
// has passed it cannot be alive any more, so it is marked `abandoned`. This happens lazily, at the
// start of every run of any job and whenever the status is read, so no extra cron is needed.

import { and, eq, lt } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { jobRuns } from "../db/schema.js";

/**
 * How long past its budget a run may still be finishing. The budget is soft at its end: the
 * follow-up job lets a last SMTP exchange finish (three SMTP time-outs at most, 45 s by default)
 * and every job then records its result; five minutes is far beyond either.
 */
export const RUN_LEASE_GRACE_MS = 5 * 60_000;

/** What an abandoned run's `error` says. */
export const ABANDONED_REASON = "the run never recorded its end (process killed, platform time-out or database lost) and its lease has passed";

/** The instant after which a run started at `startedAt` with `budgetMs` cannot be alive. */
export function runLeaseUntil(startedAt: Date, budgetMs: number): Date {
  return new Date(startedAt.getTime() + budgetMs + RUN_LEASE_GRACE_MS);
}

/**
 * Marks `abandoned` every run still `running` whose lease ended before `now`, and returns their
 * ids. One statement: of two callers at once, each row is moved (and returned) by one only.
 */
export async function markAbandonedRuns(db: Db, now: Date): Promise<string[]> {
  const moved = await db
    .update(jobRuns)
    .set({ status: "abandoned", finishedAt: now, error: ABANDONED_REASON })
    .where(and(eq(jobRuns.status, "running"), lt(jobRuns.leaseUntil, now)))
    .returning({ runId: jobRuns.runId });
  return moved.map((row) => row.runId);
}
