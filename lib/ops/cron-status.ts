// What an operator asks first when something seems off: when did each job last run and how did it
// end, is its schedule alive (scheduled runs only), which mailboxes are failing, since when, and
// what fixes them. Read-only, but for one write: runs that can no longer be alive yet never
// recorded their end are marked `abandoned` first, so none shows as `running` forever.

import { randomUUID } from "node:crypto";
import { and, desc, eq, gt, inArray, isNotNull, or } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { followupSendAttempts, inboxIntegrations, type JobRunStatus, jobRuns, SYNC_STATUS } from "../db/schema.js";
import { type FollowupSummary, processAutomaticJob } from "../followups/process-automatic.js";
import { markAbandonedRuns } from "../jobs/abandon-runs.js";
import { startBudget } from "../jobs/budget.js";
import type { JobEntry } from "../jobs/job-entry.js";
import { SCHEDULED_TRIGGERS } from "../jobs/run-job.js";
import type { Logger } from "../log.js";
import { fixCommandsFor, MAILBOX_STATE_COLUMNS, type MailboxStateCode, mailboxStateOf } from "./mailbox-state.js";
import { scheduleHealth } from "./schedule-health.js";

const RUNS_PER_JOB = 5;

export interface RunRecord {
  runId: string;
  trigger: string;
  startedAt: Date;
  finishedAt: Date | null;
  /** `running`, `success`, `error`, or `abandoned` (never recorded its end; `error` says so). */
  status: JobRunStatus;
  summary: unknown;
  error: string | null;
}

export interface FailingIntegration {
  id: number;
  companyId: number;
  name: string | null;
  emailAddress: string | null;
  failingSince: Date | null;
  consecutiveFailures: number;
  lastSyncError: string | null;
  lastSuccessAt: Date | null;
  /** OAuth2 mailboxes whose grant the provider refused: not synced until connected again. */
  needsReconnectionSince: Date | null;
  /** Its state (`mailbox-state.ts`) and the commands that get it out of it. */
  state: MailboxStateCode;
  fixCommands: string[];
}

/** The follow-ups a run would look at now: how many it would send, and why the others wait. */
export interface FollowupsOutlook {
  wouldSendNow: number;
  waitingByReason: Record<string, number>;
  wouldCloseByReason: Record<string, number>;
  uncertainSends: number;
}

export interface JobStatus {
  /** The most recent runs, scheduled or started by hand (each says its `trigger`). */
  lastRuns: RunRecord[];
  lastSuccessAt: Date | null;
  /** The last run of the schedule (a cron's ping or the platform's scheduler): only it says the cron works. */
  lastScheduledRunAt: Date | null;
  nextExpectedAt: Date | null;
  /** No scheduled run for longer than the schedule allows: the cron seems stopped. */
  isOverdue: boolean;
}

export interface CronStatus {
  jobs: Record<string, JobStatus>;
  failingIntegrations: FailingIntegration[];
  followups: FollowupsOutlook;
}

/** The recent runs of each job of `registry` (lib/app/job-registry.ts), the integrations whose last sync failed, and the follow-ups' outlook. */
export async function readCronStatus(
  db: Db,
  ctx: { config: Config; log: Logger; now: () => Date },
  registry: readonly JobEntry[],
): Promise<CronStatus> {
  await markAbandonedRuns(db, ctx.now());
  const jobs: CronStatus["jobs"] = {};
  for (const { name: job, schedule } of registry) {
    const lastRuns = await db
      .select({
        runId: jobRuns.runId, trigger: jobRuns.trigger, startedAt: jobRuns.startedAt, finishedAt: jobRuns.finishedAt,
        status: jobRuns.status, summary: jobRuns.summary, error: jobRuns.error,
      })
      .from(jobRuns)
      .where(eq(jobRuns.job, job))
      .orderBy(desc(jobRuns.startedAt))
      .limit(RUNS_PER_JOB);
    const [lastSuccess] = await db
      .select({ startedAt: jobRuns.startedAt })
      .from(jobRuns)
      .where(and(eq(jobRuns.job, job), eq(jobRuns.status, "success")))
      .orderBy(desc(jobRuns.startedAt))
      .limit(1);
    const [lastScheduled] = await db
      .select({ startedAt: jobRuns.startedAt })
      .from(jobRuns)
      .where(and(eq(jobRuns.job, job), inArray(jobRuns.trigger, [...SCHEDULED_TRIGGERS])))
      .orderBy(desc(jobRuns.startedAt))
      .limit(1);
    const health = scheduleHealth(schedule, lastScheduled?.startedAt, ctx.now());
    jobs[job] = {
      lastRuns, lastSuccessAt: lastSuccess?.startedAt ?? null, lastScheduledRunAt: lastScheduled?.startedAt ?? null,
      nextExpectedAt: health.nextExpectedAt ?? null, isOverdue: health.isOverdue,
    };
  }
  const failingRows = await db
    .select({ ...MAILBOX_STATE_COLUMNS, name: inboxIntegrations.name, emailAddress: inboxIntegrations.emailAddress })
    .from(inboxIntegrations)
    .where(
      and(
        eq(inboxIntegrations.isActive, true),
        or(
          eq(inboxIntegrations.lastSyncStatus, SYNC_STATUS.error),
          gt(inboxIntegrations.consecutiveFailures, 0),
          isNotNull(inboxIntegrations.oauthReconnectNeededAt),
        ),
      ),
    )
    .orderBy(inboxIntegrations.failingSince);
  const failingIntegrations = failingRows.map((row): FailingIntegration => {
    const state = mailboxStateOf(row, ctx.now());
    return {
      id: row.id, companyId: row.companyId, name: row.name, emailAddress: row.emailAddress, failingSince: row.failingSince,
      consecutiveFailures: row.consecutiveFailures, lastSyncError: row.lastSyncError, lastSuccessAt: row.lastSuccessAt,
      needsReconnectionSince: row.oauthReconnectNeededAt, state: state.code, fixCommands: fixCommandsFor(row, state),
    };
  });
  return { jobs, failingIntegrations, followups: await readFollowupsOutlook(db, ctx) };
}

/**
 * The follow-up job's own decision, in dry-run mode (it sends and writes nothing), so the status
 * can never disagree with what the next run will do.
 */
async function readFollowupsOutlook(db: Db, ctx: { config: Config; log: Logger; now: () => Date }): Promise<FollowupsOutlook> {
  const summary = await dryRunFollowups(db, ctx);
  const uncertain = await db.$count(followupSendAttempts, eq(followupSendAttempts.state, "uncertain"));
  return {
    wouldSendNow: summary.wouldSend?.length ?? 0,
    waitingByReason: summary.skippedByReason,
    wouldCloseByReason: summary.closedByReason,
    uncertainSends: uncertain,
  };
}

/** What a follow-up run would do at `ctx.now()`, without sending or recording anything (not even a run). */
export function dryRunFollowups(db: Db, ctx: { config: Config; log: Logger; now: () => Date }): Promise<FollowupSummary> {
  return processAutomaticJob.run(
    { db, config: ctx.config, log: ctx.log, now: ctx.now, budget: startBudget(ctx.config.runBudgetMs), runId: randomUUID(), trigger: "cli" },
    { isDryRun: true },
  );
}
