import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config.js";
import { jobRuns } from "../../lib/db/schema.js";
import { processAutomaticJob } from "../../lib/followups/process-automatic.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { RUN_LEASE_GRACE_MS } from "../../lib/jobs/abandon-runs.js";
import {
  FINISH_MARGIN_MS, invocationLimitMs, NETLIFY_SCHEDULED_LIMIT_MS, NETLIFY_SYNCHRONOUS_LIMIT_MS, runBudgetMs, startBudget,
} from "../../lib/jobs/budget.js";
import { type Job, type JobSummary, runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

/** A job that reports the time it was left when it started. */
function budgetProbe(): { job: Job<unknown, JobSummary>; remainingAtStartMs: () => number } {
  let remainingMs = Number.NaN;
  const job: Job<unknown, JobSummary> = {
    name: "budget-probe",
    triggerLogLine: "",
    successMessage: "",
    paramsFromQuery: () => ({}),
    run: async (ctx) => {
      remainingMs = ctx.budget.remainingMs();
      return { remaining: false };
    },
  };
  return { job, remainingAtStartMs: () => remainingMs };
}

describe("run budget", () => {
  const defaults = loadConfig({});

  it("lets a follow-up run's last SMTP exchange end before Netlify stops a scheduled function at 30 s", () => {
    const limitMs = invocationLimitMs("netlify", "schedule")!;
    const lastStepMs = processAutomaticJob.lastStepMs!(defaults);
    const budgetMs = runBudgetMs(defaults.runBudgetMs, limitMs, lastStepMs);
    expect(limitMs).toBe(NETLIFY_SCHEDULED_LIMIT_MS);
    expect(lastStepMs).toBe(defaults.smtpTimeoutMs);
    // The last send starts before the budget ends and waits at most its time-out; then the run is recorded.
    expect(budgetMs + lastStepMs + FINISH_MARGIN_MS).toBeLessThanOrEqual(30_000);
    expect(budgetMs).toBe(13_000);
  });

  it("keeps room for the slowest of the SMTP and SMS time-outs", () => {
    const config = loadConfig({ SMTP_TIMEOUT_MS: "5000", SMS_TIMEOUT_MS: "9000" });
    expect(processAutomaticJob.lastStepMs!(config)).toBe(9_000);
  });

  it("gives the inbox sync the whole default budget on Netlify: its IMAP sessions are cut before the deadline", () => {
    expect(runBudgetMs(defaults.runBudgetMs, NETLIFY_SCHEDULED_LIMIT_MS, syncAllJob.lastStepMs!(defaults))).toBe(25_000);
    const fanningOut = loadConfig({ FANOUT_MAX_INVOCATIONS: "3" });
    const lastStepMs = syncAllJob.lastStepMs!(fanningOut);
    expect(lastStepMs).toBeGreaterThan(0);
    expect(runBudgetMs(30_000, NETLIFY_SCHEDULED_LIMIT_MS, lastStepMs) + lastStepMs + FINISH_MARGIN_MS).toBeLessThanOrEqual(30_000);
  });

  it("takes each platform's limit: Netlify's by kind, Vercel's from the function's maxDuration, none in our own process", () => {
    expect(invocationLimitMs("netlify", "request")).toBe(NETLIFY_SYNCHRONOUS_LIMIT_MS);
    expect(invocationLimitMs("vercel", "request", 60)).toBe(60_000);
    expect(invocationLimitMs("vercel", "request")).toBeUndefined();
    expect(invocationLimitMs("node", "request", 60)).toBeUndefined();
    expect(invocationLimitMs("node", "schedule")).toBeUndefined();
  });

  it("lets RUN_BUDGET_MS shorten a run, or lengthen it up to the platform's limit but never past it", () => {
    expect(runBudgetMs(10_000, 60_000, 15_000)).toBe(10_000);
    expect(runBudgetMs(50_000, 60_000, 0)).toBe(50_000);
    expect(runBudgetMs(900_000, 60_000, 15_000)).toBe(60_000 - 15_000 - FINISH_MARGIN_MS);
    expect(runBudgetMs(900_000, undefined, 15_000)).toBe(900_000);
  });

  it("still leaves a run a second when the time-outs are longer than the platform's limit", () => {
    expect(runBudgetMs(25_000, 30_000, 60_000)).toBe(1_000);
  });

  it("counts the time already spent since the invocation started, and fires its signal at the deadline", async () => {
    const budget = startBudget(10_000, undefined, performance.now() - 4_000);
    expect(budget.remainingMs()).toBeLessThanOrEqual(6_000);
    const spent = startBudget(1_000, undefined, performance.now() - 2_000);
    expect(spent.isExhausted()).toBe(true);
    await new Promise((resolve) => (spent.signal.aborted ? resolve(undefined) : spent.signal.addEventListener("abort", resolve)));
    expect(spent.signal.aborted).toBe(true);
  });

  describe("in runJob", () => {
    const database = useDatabase("pg");

    it("starts at the invocation's start, so loading and connecting count against it, and leases the run for that budget", async () => {
      const { job, remainingAtStartMs } = budgetProbe();
      const config = testConfig(database);
      const invocation = { startedAtMs: performance.now() - 20_000, limitMs: NETLIFY_SCHEDULED_LIMIT_MS };
      const { runId } = await runJob(job, {}, { config, log: createLogger("test", { level: "silent" }), trigger: "schedule", invocation });
      expect(remainingAtStartMs()).toBeLessThanOrEqual(25_000 - 20_000);
      const [run] = await database.db.select().from(jobRuns).where(eq(jobRuns.runId, runId));
      expect(run!.leaseUntil!.getTime() - run!.startedAt.getTime()).toBe(25_000 + RUN_LEASE_GRACE_MS);
    });

    it("keeps RUN_BUDGET_MS from the run's own start where no platform limits it (the CLI, npm start)", async () => {
      const { job, remainingAtStartMs } = budgetProbe();
      const config = testConfig(database, { RUN_BUDGET_MS: "40000" });
      const { runId } = await runJob(job, {}, { config, log: createLogger("test", { level: "silent" }), trigger: "cli" });
      expect(remainingAtStartMs()).toBeLessThanOrEqual(40_000);
      const [run] = await database.db.select().from(jobRuns).where(eq(jobRuns.runId, runId));
      expect(run!.leaseUntil!.getTime() - run!.startedAt.getTime()).toBe(40_000 + RUN_LEASE_GRACE_MS);
    });
  });
});
