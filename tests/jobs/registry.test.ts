import { describe, expect, it } from "vitest";
import { jobRuns } from "../../lib/db/schema.js";
import { JOBS, jobNamed } from "../../lib/app/job-registry.js";
import { defineJob, type JobEntry } from "../../lib/jobs/job-entry.js";
import type { Job, JobSummary } from "../../lib/jobs/run-job.js";
import { scheduledJobs, startScheduler } from "../../lib/app/scheduler.js";
import { createLogger } from "../../lib/log.js";
import { readCronStatus } from "../../lib/ops/cron-status.js";
import { readJobActivity } from "../../lib/ops/page/read-job-activity.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

/** A third job, as one more registry entry would declare it: its runs write report lines, which its chart counts. */
function reportJob(): JobEntry {
  const job: Job<{ isDryRun: boolean }, JobSummary & { lines: number }> = {
    name: "nightly-report",
    triggerLogLine: "",
    successMessage: "report done",
    paramsFromQuery: () => ({ isDryRun: false }),
    run: async () => ({ remaining: false, lines: 7 }),
  };
  return defineJob({
    path: "/api/reports/nightly", schedule: "31 2 * * *", job, scheduledParams: { isDryRun: false },
    label: "Rapport de nuit", itemsLabel: "Lignes",
    chart: (summary) => ({ items: summary.lines ?? 0, attempted: null, failures: 0 }),
  });
}

describe("job registry", () => {
  it("refuses a job name no entry has, so an entry point with a typo fails at once", () => {
    expect(() => jobNamed("inbox-synk")).toThrow(/no job named inbox-synk/);
  });

  describe("with a third job added", () => {
    const database = useDatabase("pg");
    const registry = [...JOBS, reportJob()];

    it("schedules it, runs it at its minute, and shows it in the status and on the operator's page", async () => {
      const config = testConfig(database);
      const log = createLogger("test", { level: "silent" });
      const scheduled = scheduledJobs(registry);
      expect(scheduled.map((s) => s.job.name)).toEqual(["inbox-sync", "followups", "nightly-report"]);
      const scheduler = startScheduler(scheduled, { config, log, db: database.db, isTimerOff: true });
      scheduler.tick(new Date("2026-11-25T02:31:00Z")); // only the report is due at 02:31
      await scheduler.stop();
      const runs = await database.db.select().from(jobRuns);
      expect(runs.map((r) => [r.job, r.trigger, r.status])).toEqual([["nightly-report", "schedule", "success"]]);

      const status = await readCronStatus(database.db, { config, log, now: () => new Date("2026-11-25T02:32:00Z") }, registry);
      expect(Object.keys(status.jobs)).toEqual(["inbox-sync", "followups", "nightly-report"]);
      expect(status.jobs["nightly-report"]!.lastRuns).toHaveLength(1);

      const activity = await readJobActivity(database.db, new Date("2026-11-25T02:32:00Z"), registry);
      const report = activity.find((a) => a.jobName === "nightly-report")!;
      expect(report).toMatchObject({ label: "Rapport de nuit", schedule: "31 2 * * *", supportsDryRun: false });
      expect(report.lastRun).toMatchObject({ trigger: "schedule", status: "success" });

      // Charted through its entry's own `chart`: the lines its run wrote, in the hour it ran.
      const charted = await readJobActivity(database.db, new Date(runs[0]!.startedAt.getTime() + 60_000), registry);
      const chartedReport = charted.find((a) => a.jobName === "nightly-report")!;
      expect(chartedReport.lastDay.reduce((sum, bucket) => sum + bucket.items, 0)).toBe(7);
      expect(chartedReport.lastDay.reduce((sum, bucket) => sum + bucket.runs, 0)).toBe(1);
    });
  });
});
