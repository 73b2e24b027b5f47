import { describe, expect, it } from "vitest";
import { jobRuns } from "../../lib/db/schema.js";
import type { Job, JobSummary } from "../../lib/jobs/run-job.js";
import { scheduledJobs, startScheduler } from "../../lib/app/scheduler.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

/** A job that works until the scheduler asks it to stop, as a long import would. */
function jobUntilStopped(): { job: Job<unknown, JobSummary>; started: Promise<void> } {
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const job: Job<unknown, JobSummary> = {
    name: "long-import",
    triggerLogLine: "",
    successMessage: "",
    paramsFromQuery: () => ({}),
    run: async (ctx) => {
      markStarted();
      while (!ctx.budget.isExhausted()) await new Promise((resolve) => setTimeout(resolve, 10));
      return { remaining: true };
    },
  };
  return { job, started };
}

describe("self-hosted scheduler", () => {
  const database = useDatabase("pg");

  it("schedules both jobs of the registry on their crons", () => {
    expect(scheduledJobs().map((s) => [s.job.name, s.schedule])).toEqual([["inbox-sync", "*/5 * * * *"], ["followups", "0 * * * *"]]);
  });

  it("never starts a second run of a job while the first is going, and stops it cleanly", async () => {
    const { job, started } = jobUntilStopped();
    const scheduler = startScheduler([{ schedule: "*/5 * * * *", job, params: {} }], {
      config: testConfig(database, { RUN_BUDGET_MS: "600000" }),
      log: createLogger("test", { level: "silent" }),
      isTimerOff: true,
    });
    scheduler.tick(new Date("2026-11-25T10:05:00Z"));
    await started;
    scheduler.tick(new Date("2026-11-25T10:10:00Z"));
    scheduler.tick(new Date("2026-11-25T10:11:00Z")); // not due anyway
    await scheduler.stop();
    const runs = await database.db.select().from(jobRuns);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ job: "long-import", trigger: "schedule", status: "success" });
    expect(runs[0]!.summary).toMatchObject({ remaining: true });
  });
});
