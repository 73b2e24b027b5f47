// Whether a job's schedule is alive, from its last scheduled run (a cron's ping or the platform's
// scheduler, never a run started by hand): when the next one is expected, and whether that moment
// is long past. The operator's page and the status (endpoint and CLI) read it from here.

import { parseCron } from "../jobs/cron-expression.js";

/** A ping may come a few minutes late (cron-job.org queues, cold starts) without the cron being down. */
export const LATE_GRACE_MS = 10 * 60 * 1000;

export interface ScheduleHealth {
  nextExpectedAt: Date | undefined;
  /** The expected run is more than LATE_GRACE_MS past, or the schedule never ran at all. */
  isOverdue: boolean;
}

/** The health of the cron `schedule` whose last scheduled run started at `lastScheduledAt`. */
export function scheduleHealth(schedule: string, lastScheduledAt: Date | undefined, now: Date): ScheduleHealth {
  const expression = parseCron(schedule);
  const nextExpectedAt = lastScheduledAt ? expression.nextAfter(lastScheduledAt) : undefined;
  return {
    nextExpectedAt: nextExpectedAt ?? expression.nextAfter(now),
    // Never run at all counts as overdue too: a deployment whose cron was never set up.
    isOverdue: !lastScheduledAt || (nextExpectedAt !== undefined && now.getTime() - nextExpectedAt.getTime() > LATE_GRACE_MS),
  };
}
