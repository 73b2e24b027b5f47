// The self-hosted scheduler (`npm start` without --no-cron): runs each job on its cron schedule, in
// this process, never two runs of the same job at once. The schedules come from the job registry,
// which the platform crons are checked against, so they cannot drift apart.

import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import type { Logger } from "../log.js";
import { type CronExpression, parseCron } from "./cron-expression.js";
import { JOBS, type JobEntry } from "./registry.js";
import { type Job, type JobSummary, runJob } from "./run-job.js";

export interface ScheduledJob {
  path: string;
  expression: CronExpression;
  job: Job<unknown, JobSummary>;
  params: unknown;
}

export interface Scheduler {
  /** Starts the jobs due in the minute of `at` (the timer calls it each minute; tests call it directly). */
  tick(at: Date): void;
  /** Stops scheduling, asks running jobs to stop taking work, and waits for them to return. */
  stop(): Promise<void>;
}

const MINUTE_MS = 60_000;

/** Every job of `jobs` on its schedule, with the parameters of a scheduled run. */
export function scheduledJobs(jobs: readonly JobEntry[] = JOBS): ScheduledJob[] {
  return jobs.map((entry) => ({ path: entry.path, expression: parseCron(entry.schedule), job: entry.job, params: entry.scheduledParams }));
}

/**
 * Starts the scheduler. At each minute boundary, every job whose expression matches is started
 * unless its previous run is still going (then that tick is skipped and logged).
 */
export function startScheduler(
  jobs: ScheduledJob[],
  options: { config: Config; log: Logger; db?: Db; isTimerOff?: boolean },
): Scheduler {
  const running = new Map<string, Promise<void>>();
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;

  const tick = (at: Date) => {
    for (const entry of jobs) {
      if (!entry.expression.matches(at)) continue;
      if (running.has(entry.path)) {
        options.log.warn("previous run still going: tick skipped", { job: entry.job.name });
        continue;
      }
      const run = runJob(entry.job, entry.params, {
        config: options.config, log: options.log, trigger: "schedule", db: options.db, stopSignal: stopping.signal,
      })
        .then(() => undefined)
        .catch((err: unknown) => options.log.error("scheduled run failed", { job: entry.job.name, error: err instanceof Error ? err.message : String(err) }))
        .finally(() => running.delete(entry.path));
      running.set(entry.path, run);
    }
  };
  const scheduleNext = () => {
    const nowMs = Date.now();
    const nextMinuteMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    timer = setTimeout(() => {
      if (stopping.signal.aborted) return;
      tick(new Date(nextMinuteMs));
      scheduleNext();
    }, nextMinuteMs - nowMs);
  };
  if (!options.isTimerOff) scheduleNext();
  options.log.info("scheduler started", { jobs: jobs.map((j) => `${j.job.name} ${j.expression.source}`) });

  return {
    tick,
    async stop() {
      clearTimeout(timer);
      stopping.abort(new Error("shutting down"));
      await Promise.all(running.values());
    },
  };
}

