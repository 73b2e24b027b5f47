// Runs one job once: opens the database, records the run in `job_runs` (with a lease, and marks
// the runs whose lease passed without an end as abandoned), hands the job its context (database,
// clock, budget, logger) and closes everything in `finally`. HTTP, the CLI, the local scheduler and
// the tests all start jobs here. The run's times come from the same clock `now()` as the job's; on a
// platform its budget runs from the invocation's start (budget.ts), so loading and connecting count.

import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Config } from "../config.js";
import { type Db, openDb } from "../db/client.js";
import { type JobRunStatus, jobRuns } from "../db/schema.js";
import { DatabaseUnavailableError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import { markAbandonedRuns, runLeaseUntil } from "./abandon-runs.js";
import { type Budget, type Invocation, runBudgetMs, startBudget } from "./budget.js";

/** Who started a run; `operator` is a button of the operator's page, `push` a mailbox's change notification. */
export type Trigger = "http" | "cli" | "schedule" | "operator" | "push" | "test";

/**
 * The triggers of the schedule itself: a cron's HTTP ping and the platform's (or `npm start`'s)
 * scheduler. Only their runs tell whether the schedule works; a run started by hand (the CLI, a
 * button of the operator's page, a test) says nothing about it.
 */
export const SCHEDULED_TRIGGERS: readonly Trigger[] = ["http", "schedule"];

/** True for a run started by the schedule (see SCHEDULED_TRIGGERS). */
export function isScheduledTrigger(trigger: string): boolean {
  return (SCHEDULED_TRIGGERS as readonly string[]).includes(trigger);
}

/** What a job receives. `now()` is the business clock (injectable); the budget is wall-clock time. */
export interface JobContext {
  db: Db;
  config: Config;
  log: Logger;
  now: () => Date;
  budget: Budget;
  runId: string;
  trigger: Trigger;
}

/** What every job returns: its own counts, plus whether work is left for the next run. */
export interface JobSummary {
  remaining: boolean;
}

/** A job: a name, the words an endpoint uses for it, and the work (its path and schedule: its entry in lib/app/job-registry.ts). */
export interface Job<P, S extends JobSummary> {
  name: string;
  /** The line logged when an HTTP ping triggers the job (the original product's wording). */
  triggerLogLine: string;
  /** The `message` of a successful answer. */
  successMessage: string;
  /** Job parameters read from a request's query string (e.g. a dry run). */
  paramsFromQuery(query: URLSearchParams): P;
  run(ctx: JobContext, params: P): Promise<S>;
  /**
   * How long the step the job started just before its deadline may still run past it (a send waiting
   * on its server); a platform's limit keeps that much room after the budget. None when omitted.
   */
  lastStepMs?(config: Config): number;

  /**
   * The items (mailboxes, sends) the run tried and those that failed, read from its summary. A run
   * whose every item failed is recorded `error` (an operator's sync of one failing mailbox failed,
   * whatever the job did around it), one where some failed `partial`.
   */
  itemsOf?(summary: S): ItemCounts;
}

export interface ItemCounts {
  attempted: number;
  failed: number;
  /** The first failure's reason, kept as the run's error. */
  firstFailure?: string;
}

export interface RunJobOptions {
  config: Config;
  log: Logger;
  trigger: Trigger;
  now?: () => Date;
  /** An already open database (tests, the local server); otherwise one is opened and closed here. */
  db?: Db;
  /** Ends the run's budget early (shutdown): the job stops taking new work and returns. */
  stopSignal?: AbortSignal;
  /** The platform invocation the run is in (an endpoint): the budget counts from its start, within its limit. */
  invocation?: Invocation;
}

export type RunResult<S> = S & { runId: string; durationMs: number };

/** Runs `job` once with `params` and returns its summary. Throws only when nothing could run. */
export async function runJob<P, S extends JobSummary>(
  job: Job<P, S>,
  params: P,
  options: RunJobOptions,
): Promise<RunResult<S>> {
  const runId = randomUUID();
  const now = options.now ?? (() => new Date());
  const log = options.log.with({ job: job.name, run: runId });
  const startedMs = options.invocation?.startedAtMs ?? performance.now();
  const budgetMs = runBudgetMs(options.config.runBudgetMs, options.invocation?.limitMs, job.lastStepMs?.(options.config) ?? 0);
  const opened = options.db ? undefined : await openDb(options.config.database).catch((err: unknown) => {
    throw new DatabaseUnavailableError(err);
  });
  const db = options.db ?? opened!.db;
  try {
    const startedAt = now();
    try {
      await db.insert(jobRuns).values({
        runId, job: job.name, trigger: options.trigger, startedAt, leaseUntil: runLeaseUntil(startedAt, budgetMs),
      });
    } catch (err) {
      throw new DatabaseUnavailableError(err);
    }
    const abandoned = await markAbandonedRuns(db, startedAt).catch((err: unknown) => {
      log.warn("abandoned runs not marked", { error: shortReason(err) });
      return [];
    });
    if (abandoned.length > 0) log.warn("runs that never recorded their end marked abandoned", { runs: abandoned });
    // From the invocation's start when there is one (the platform counts from there); else from now.
    const budget = startBudget(budgetMs, options.stopSignal, options.invocation?.startedAtMs);
    let summary: S;
    try {
      summary = await job.run({ db, config: options.config, log, now, budget, runId, trigger: options.trigger }, params);
    } catch (err) {
      log.error("run failed", { error: shortReason(err) });
      await finishRun(db, runId, now(), "error", undefined, shortReason(err));
      throw err;
    }
    const durationMs = Math.round(performance.now() - startedMs);
    const outcome = outcomeOf(job.itemsOf?.(summary));
    await finishRun(db, runId, now(), outcome.status, { ...summary, durationMs }, outcome.error);
    log.info("run finished", { durationMs, budgetMs, ...flatCounts(summary) });
    return { ...summary, runId, durationMs };
  } finally {
    await opened?.close();
  }
}

async function finishRun(db: Db, runId: string, finishedAt: Date, status: JobRunStatus, summary?: unknown, error?: string): Promise<void> {
  // Even over `abandoned`: a run that outlived its lease (a frozen function thawed) did end, and
  // its own record of how is the truth.
  await db
    .update(jobRuns)
    .set({ finishedAt, status, summary: summary ?? null, error: error ?? null })
    .where(eq(jobRuns.runId, runId))
    .catch(() => {}); // the run's own result matters more than its record
}

/** How a run that returned ended, from its items: none failed, some, or all of those it tried. */
function outcomeOf(items: ItemCounts | undefined): { status: JobRunStatus; error?: string } {
  if (!items || items.failed === 0) return { status: "success" };
  return { status: items.failed >= items.attempted ? "error" : "partial", error: items.firstFailure };
}

/** The numeric and boolean fields of a summary, for the one log line per run. */
function flatCounts(summary: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(summary).filter(([, v]) => typeof v === "number" || typeof v === "boolean"),
  );
}
