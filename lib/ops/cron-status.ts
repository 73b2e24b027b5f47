// What an operator asks first when something seems off: when did each job last run and how did it
// end, which mailboxes are failing and since when. Read-only.

import { and, desc, eq, gt, or } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { inboxIntegrations, jobRuns, SYNC_STATUS } from "../db/schema.js";

export const JOB_NAMES = ["inbox-sync", "followups"] as const;
const RUNS_PER_JOB = 5;

export interface RunRecord {
  runId: string;
  trigger: string;
  startedAt: Date;
  finishedAt: Date | null;
  status: string;
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
}

export interface CronStatus {
  jobs: Record<string, { lastRuns: RunRecord[]; lastSuccessAt: Date | null }>;
  failingIntegrations: FailingIntegration[];
}

/** The recent runs of each job and the integrations whose last sync failed. */
export async function readCronStatus(db: Db): Promise<CronStatus> {
  const jobs: CronStatus["jobs"] = {};
  for (const job of JOB_NAMES) {
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
    jobs[job] = { lastRuns, lastSuccessAt: lastSuccess?.startedAt ?? null };
  }
  const failingIntegrations = await db
    .select({
      id: inboxIntegrations.id, companyId: inboxIntegrations.companyId, name: inboxIntegrations.name,
      emailAddress: inboxIntegrations.emailAddress, failingSince: inboxIntegrations.failingSince,
      consecutiveFailures: inboxIntegrations.consecutiveFailures, lastSyncError: inboxIntegrations.lastSyncError,
      lastSuccessAt: inboxIntegrations.lastSuccessAt,
    })
    .from(inboxIntegrations)
    .where(
      and(
        eq(inboxIntegrations.isActive, true),
        or(eq(inboxIntegrations.lastSyncStatus, SYNC_STATUS.error), gt(inboxIntegrations.consecutiveFailures, 0)),
      ),
    )
    .orderBy(inboxIntegrations.failingSince);
  return { jobs, failingIntegrations };
}
