// Each job's runs over the last 24 hours (by hour) and 7 days (by day), its last scheduled run and
// its last run started by hand, when the next scheduled one is expected, and whether that moment
// is long past (the cron is down). Read from `job_runs`. Only scheduled runs (a cron's ping, the
// platform's scheduler) speak for the schedule: a simulation, a CLI run or a button's sync must not
// hide a stopped cron.

import { and, desc, eq, gte, inArray, notInArray } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { type JobRunStatus, jobRuns } from "../../db/schema.js";
import type { JobEntry } from "../../jobs/job-entry.js";
import { isScheduledTrigger, SCHEDULED_TRIGGERS } from "../../jobs/run-job.js";
import { scheduleHealth } from "../schedule-health.js";

/** One bar of a chart: the runs that started in [startsAt, startsAt + span). */
export interface RunBucket {
  startsAt: Date;
  /** Runs of the schedule. */
  runs: number;
  /** Runs started by hand (CLI, the page's buttons). */
  manualRuns: number;
  maxDurationMs: number;
  /** What the job's entry charts (`chart`, in its `itemsLabel`: messages imported, follow-ups sent), by any run. */
  items: number;
  /** Mailboxes or sends that failed, plus runs that failed as a whole. */
  failures: number;
}

export interface LastRun {
  startedAt: Date;
  status: JobRunStatus;
  trigger: string;
  durationMs: number | null;
  error: string | null;
  /** Items the run tried and those that failed (mailboxes, sends), when its summary says. */
  items: { attempted: number; failed: number } | null;
}

export interface JobActivity {
  jobName: string;
  /** The registry's words for the job on the page. */
  label: string;
  itemsLabel: string;
  supportsDryRun: boolean;
  schedule: string;
  /** The last run of the schedule. */
  lastRun: LastRun | undefined;
  /** The last run started by hand, when it came after the last scheduled one. */
  lastManualRun: LastRun | undefined;
  nextExpectedAt: Date | undefined;
  /** The next expected scheduled run is more than LATE_GRACE_MS in the past: nothing pings the job. */
  isOverdue: boolean;
  lastDay: RunBucket[];
  lastWeek: RunBucket[];
}

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

type RunRow = { startedAt: Date; status: JobRunStatus; trigger: string; summary: unknown; error: string | null };

/** The activity of every job of `jobs` at `now`. */
export async function readJobActivity(db: Db, now: Date, jobs: readonly JobEntry[]): Promise<JobActivity[]> {
  const since = new Date(now.getTime() - 7 * DAY_MS);
  const columns = { startedAt: jobRuns.startedAt, status: jobRuns.status, trigger: jobRuns.trigger, summary: jobRuns.summary, error: jobRuns.error };
  const activity: JobActivity[] = [];
  for (const job of jobs) {
    const runs: RunRow[] = await db
      .select(columns)
      .from(jobRuns)
      .where(and(eq(jobRuns.job, job.name), gte(jobRuns.startedAt, since)))
      .orderBy(desc(jobRuns.startedAt));
    const latestOf = async (isScheduled: boolean): Promise<RunRow | undefined> => {
      const recent = runs.find((r) => isScheduledTrigger(r.trigger) === isScheduled);
      if (recent) return recent;
      const triggers = isScheduled ? inArray(jobRuns.trigger, [...SCHEDULED_TRIGGERS]) : notInArray(jobRuns.trigger, [...SCHEDULED_TRIGGERS]);
      const [older] = await db.select(columns).from(jobRuns).where(and(eq(jobRuns.job, job.name), triggers)).orderBy(desc(jobRuns.startedAt)).limit(1);
      return older;
    };
    const latest = await latestOf(true);
    const latestManual = await latestOf(false);
    const health = scheduleHealth(job.schedule, latest?.startedAt, now);
    activity.push({
      jobName: job.name,
      label: job.label,
      itemsLabel: job.itemsLabel,
      supportsDryRun: job.supportsDryRun,
      schedule: job.schedule,
      lastRun: latest && lastRunOf(job, latest),
      lastManualRun: latestManual && (!latest || latestManual.startedAt > latest.startedAt) ? lastRunOf(job, latestManual) : undefined,
      nextExpectedAt: health.nextExpectedAt,
      isOverdue: health.isOverdue,
      lastDay: bucketsOf(job, runs, now, HOUR_MS, 24),
      lastWeek: bucketsOf(job, runs, now, DAY_MS, 7),
    });
  }
  return activity;
}

function lastRunOf(job: JobEntry, run: RunRow): LastRun {
  return { startedAt: run.startedAt, status: run.status, trigger: run.trigger, error: run.error, durationMs: durationOf(run), items: job.chart(run.summary).attempted };
}

function bucketsOf(job: JobEntry, runs: RunRow[], now: Date, spanMs: number, count: number): RunBucket[] {
  const firstStartMs = Math.floor(now.getTime() / spanMs) * spanMs - (count - 1) * spanMs;
  const buckets: RunBucket[] = Array.from({ length: count }, (_, i) => ({
    startsAt: new Date(firstStartMs + i * spanMs), runs: 0, manualRuns: 0, maxDurationMs: 0, items: 0, failures: 0,
  }));
  for (const run of runs) {
    const bucket = buckets[Math.floor((run.startedAt.getTime() - firstStartMs) / spanMs)];
    if (!bucket) continue;
    const counts = job.chart(run.summary);
    if (isScheduledTrigger(run.trigger)) bucket.runs++;
    else bucket.manualRuns++;
    bucket.maxDurationMs = Math.max(bucket.maxDurationMs, durationOf(run) ?? 0);
    bucket.items += counts.items;
    // A run that failed as a whole has no summary; one whose items failed counts them, not itself.
    bucket.failures += counts.failures + (run.status === "error" && run.summary === null ? 1 : 0);
  }
  return buckets;
}

/** How long a run took, as `runJob` recorded it beside the job's own summary. */
function durationOf(run: RunRow): number | null {
  const durationMs = (run.summary as { durationMs?: unknown } | null)?.durationMs;
  return typeof durationMs === "number" ? durationMs : null;
}
