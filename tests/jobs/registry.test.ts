import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { jobRuns } from "../../lib/db/schema.js";
import { defineJob, JOBS, jobNamed, type JobEntry } from "../../lib/jobs/registry.js";
import type { Job, JobSummary } from "../../lib/jobs/run-job.js";
import { scheduledJobs, startScheduler } from "../../lib/jobs/scheduler.js";
import { createLogger } from "../../lib/log.js";
import { readCronStatus } from "../../lib/ops/cron-status.js";
import { readJobActivity } from "../../lib/ops/page/read-job-activity.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NETLIFY_FUNCTIONS = `${ROOT}netlify/functions/`;

/** The job a registry entry names in an entry point's source: `jobEndpoint("x")` / `scheduledJobEndpoint("x")`. */
function namedJob(source: string, helper: "jobEndpoint" | "scheduledJobEndpoint"): string | undefined {
  return new RegExp(`\\b${helper}\\("([^"]+)"\\)`).exec(source)?.[1];
}

/** A third job, as one more registry entry would declare it. */
function reportJob(): JobEntry {
  const job: Job<{ isDryRun: boolean }, JobSummary> = {
    name: "nightly-report",
    triggerLogLine: "",
    successMessage: "report done",
    paramsFromQuery: () => ({ isDryRun: false }),
    run: async () => ({ remaining: false }),
  };
  return defineJob({
    path: "/api/reports/nightly", schedule: "31 2 * * *", job, scheduledParams: { isDryRun: false },
    label: "Rapport de nuit", itemsLabel: "Lignes",
  });
}

describe("job registry", () => {
  it("is what every Netlify function's static config declares: a path per job endpoint, a schedule per scheduled function", async () => {
    const endpointsByJob = new Map<string, string>();
    const schedulesByJob = new Map<string, string>();
    for (const file of readdirSync(NETLIFY_FUNCTIONS).filter((f) => f.endsWith(".mts"))) {
      const source = readFileSync(`${NETLIFY_FUNCTIONS}${file}`, "utf8");
      const { config } = (await import(`${NETLIFY_FUNCTIONS}${file}`)) as { config: { path?: string; schedule?: string } };
      const endpointOf = namedJob(source, "jobEndpoint");
      const scheduledOf = namedJob(source, "scheduledJobEndpoint");
      if (endpointOf) endpointsByJob.set(endpointOf, config.path!);
      if (scheduledOf) schedulesByJob.set(scheduledOf, config.schedule!);
    }
    expect(Object.fromEntries(endpointsByJob)).toEqual(Object.fromEntries(JOBS.map((j) => [j.name, j.path])));
    expect(Object.fromEntries(schedulesByJob)).toEqual(Object.fromEntries(JOBS.map((j) => [j.name, j.schedule])));
  });

  it("is what vercel.json declares: one cron per job on its schedule, and each job's function with its maxDuration", () => {
    const vercel = JSON.parse(readFileSync(`${ROOT}vercel.json`, "utf8")) as {
      crons: { path: string; schedule: string }[];
      functions: Record<string, { maxDuration?: number }>;
    };
    expect(vercel.crons).toEqual(JOBS.map((j) => ({ path: j.path, schedule: j.schedule })));
    for (const entry of JOBS) {
      const file = `${entry.path.slice(1)}.ts`;
      expect(vercel.functions[file]?.maxDuration, file).toBe(entry.maxDurationS);
      expect(namedJob(readFileSync(`${ROOT}${file}`, "utf8"), "jobEndpoint"), file).toBe(entry.name);
    }
  });

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
    });
  });
});
