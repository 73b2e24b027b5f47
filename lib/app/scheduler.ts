// The self-hosted scheduler (`npm start` without --no-cron): runs each job of the registry on its
// cron, in this process, never two runs of the same job at once. croner keeps the timers and
// refuses to start a job while its previous run is going (`protect`); the schedules are the
// registry's, which the platform crons are checked against, so they cannot drift apart.

import { Cron } from "croner";
import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { CRON_OPTIONS, parseCron } from "../jobs/cron-expression.js";
import type { JobEntry } from "../jobs/job-entry.js";
import { type Job, type JobSummary, runJob } from "../jobs/run-job.js";
import type { Logger } from "../log.js";
import { JOBS } from "./job-registry.js";

export interface ScheduledJob {
  /** Five-field cron expression, UTC. */
  schedule: string;
  job: Job<unknown, JobSummary>;
  params: unknown;
}

export interface Scheduler {
  /** Starts the jobs due in the minute of `at`, each unless its previous run is going (tests call it; croner's timers do the same). */
  tick(at: Date): void;
  /** Stops scheduling, asks running jobs to stop taking work, and waits for them to return. */
  stop(): Promise<void>;
}

/** Every job of `jobs` on its schedule, with the parameters of a scheduled run. */
export function scheduledJobs(jobs: readonly JobEntry[] = JOBS): ScheduledJob[] {
  return jobs.map((entry) => ({ schedule: parseCron(entry.schedule).source, job: entry.job, params: entry.scheduledParams }));
}

/**
 * Starts the scheduler: at each minute its expression matches, a job is started unless its previous
 * run is still going (then that minute is skipped and logged). With `isTimerOff` no timer fires:
 * only `tick` starts runs.
 */
export function startScheduler(
  jobs: ScheduledJob[],
  options: { config: Config; log: Logger; db?: Db; isTimerOff?: boolean },
): Scheduler {
  const running = new Set<Promise<void>>();
  const stopping = new AbortController();
  const skip = (entry: ScheduledJob) => options.log.warn("previous run still going: tick skipped", { job: entry.job.name });
  const run = (entry: ScheduledJob): Promise<void> => {
    const done = runJob(entry.job, entry.params, {
      config: options.config, log: options.log, trigger: "schedule", db: options.db, stopSignal: stopping.signal,
    })
      .then(() => undefined)
      .catch((err: unknown) => options.log.error("scheduled run failed", { job: entry.job.name, error: err instanceof Error ? err.message : String(err) }))
      .finally(() => running.delete(done));
    running.add(done);
    return done;
  };
  const crons = jobs.map((entry) => ({
    entry,
    expression: parseCron(entry.schedule),
    // `paused` keeps croner's timer from firing (it still re-arms itself, unreferenced, until stop).
    cron: new Cron(entry.schedule, { ...CRON_OPTIONS, protect: () => skip(entry), paused: options.isTimerOff, unref: options.isTimerOff }, () => run(entry)),
  }));
  options.log.info("scheduler started", { jobs: jobs.map((j) => `${j.job.name} ${j.schedule}`) });

  return {
    tick(at) {
      for (const { entry, expression, cron } of crons) {
        if (!expression.matches(at)) continue;
        // The flag croner's own `protect` reads: set from a run's start to its end, whoever started it.
        if (cron.isBusy()) skip(entry);
        else void cron.trigger();
      }
    },
    async stop() {
      for (const { cron } of crons) cron.stop();
      stopping.abort(new Error("shutting down"));
      await Promise.all(running);
    },
  };
}
