// Each job's runs over the last 24 hours (by hour) and 7 days (by day), its last run, when the next
// one is expected, and whether that moment is long past (the cron is down). Read from `job_runs`.

import { and, desc, eq, gte } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { jobRuns } from "../../db/schema.js";
import { parseCron } from "../../jobs/cron-expression.js";
import { nextRunAfter } from "../../jobs/next-run.js";
import { JOBS, type JobEntry } from "../../jobs/registry.js";

/** One bar of a chart: the runs that started in [startsAt, startsAt + span). */
export interface RunBucket {
  startsAt: Date;
  runs: number;
  maxDurationMs: number;
  /** Messages imported (inbox sync) or emails sent (follow-ups). */
  items: number;
  /** Mailboxes or sends that failed, plus runs that failed as a whole. */
  failures: number;
}

export interface LastRun {
  startedAt: Date;
  status: string;
  trigger: string;
  durationMs: number | null;
  error: string | null;
}

export interface JobActivity {
  jobName: string;
  /** The registry's words for the job on the page. */
  label: string;
  itemsLabel: string;
  supportsDryRun: boolean;
  schedule: string;
  lastRun: LastRun | undefined;
  nextExpectedAt: Date | undefined;
  /** The next expected run is more than LATE_GRACE_MS in the past: nothing pings the job. */
  isOverdue: boolean;
  lastDay: RunBucket[];
  lastWeek: RunBucket[];
}

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** A ping may come a few minutes late (cron-job.org queues, cold starts) without the cron being down. */
export const LATE_GRACE_MS = 10 * 60 * 1000;

/** The activity of every job of `jobs` at `now`. */
export async function readJobActivity(db: Db, now: Date, jobs: readonly JobEntry[] = JOBS): Promise<JobActivity[]> {
  const since = new Date(now.getTime() - 7 * DAY_MS);
  const activity: JobActivity[] = [];
  for (const job of jobs) {
    const runs = await db
      .select({ startedAt: jobRuns.startedAt, status: jobRuns.status, trigger: jobRuns.trigger, summary: jobRuns.summary, error: jobRuns.error })
      .from(jobRuns)
      .where(and(eq(jobRuns.job, job.name), gte(jobRuns.startedAt, since)))
      .orderBy(desc(jobRuns.startedAt));
    const [latest] = runs.length ? runs : await db
      .select({ startedAt: jobRuns.startedAt, status: jobRuns.status, trigger: jobRuns.trigger, summary: jobRuns.summary, error: jobRuns.error })
      .from(jobRuns)
      .where(eq(jobRuns.job, job.name))
      .orderBy(desc(jobRuns.startedAt))
      .limit(1);
    const expression = parseCron(job.schedule);
    const nextExpectedAt = latest ? nextRunAfter(expression, latest.startedAt) : undefined;
    activity.push({
      jobName: job.name,
      label: job.label,
      itemsLabel: job.itemsLabel,
      supportsDryRun: job.supportsDryRun,
      schedule: job.schedule,
      lastRun: latest && { ...latest, durationMs: countsOf(latest.summary).durationMs },
      nextExpectedAt: nextExpectedAt ?? nextRunAfter(expression, now),
      // Never run at all counts as overdue too: a deployment whose cron was never set up.
      isOverdue: !latest || (nextExpectedAt !== undefined && now.getTime() - nextExpectedAt.getTime() > LATE_GRACE_MS),
      lastDay: bucketsOf(runs, now, HOUR_MS, 24),
      lastWeek: bucketsOf(runs, now, DAY_MS, 7),
    });
  }
  return activity;
}

function bucketsOf(runs: { startedAt: Date; status: string; summary: unknown }[], now: Date, spanMs: number, count: number): RunBucket[] {
  const firstStartMs = Math.floor(now.getTime() / spanMs) * spanMs - (count - 1) * spanMs;
  const buckets: RunBucket[] = Array.from({ length: count }, (_, i) => ({
    startsAt: new Date(firstStartMs + i * spanMs), runs: 0, maxDurationMs: 0, items: 0, failures: 0,
  }));
  for (const run of runs) {
    const bucket = buckets[Math.floor((run.startedAt.getTime() - firstStartMs) / spanMs)];
    if (!bucket) continue;
    const counts = countsOf(run.summary);
    bucket.runs++;
    bucket.maxDurationMs = Math.max(bucket.maxDurationMs, counts.durationMs ?? 0);
    bucket.items += counts.items;
    bucket.failures += counts.failures + (run.status === "error" ? 1 : 0);
  }
  return buckets;
}

/** The counts a run recorded in its summary (inbox-sync and follow-ups name them differently). */
function countsOf(summary: unknown): { durationMs: number | null; items: number; failures: number } {
  const s = (summary ?? {}) as { durationMs?: number; messagesImported?: number; sent?: number; failed?: number; integrations?: { failed?: number } };
  return {
    durationMs: typeof s.durationMs === "number" ? s.durationMs : null,
    items: (s.messagesImported ?? 0) + (s.sent ?? 0),
    failures: (s.integrations?.failed ?? 0) + (s.failed ?? 0),
  };
}
