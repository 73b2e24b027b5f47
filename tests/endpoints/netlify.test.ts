import { readFileSync } from "node:fs";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobRuns } from "../../lib/db/schema.js";
import { RUN_LEASE_GRACE_MS } from "../../lib/jobs/abandon-runs.js";
import { FINISH_MARGIN_MS } from "../../lib/jobs/budget.js";
import processAutomaticFn, { config as processAutomaticConfig } from "../../netlify/functions/process-automatic.mjs";
import processAutomaticScheduled, { config as processAutomaticSchedule } from "../../netlify/functions/process-automatic-scheduled.mjs";
import syncAllFn, { config as syncAllConfig } from "../../netlify/functions/sync-all.mjs";
import syncAllScheduled, { config as syncAllSchedule } from "../../netlify/functions/sync-all-scheduled.mjs";
import operatorPageFn, { config as operatorPageConfig } from "../../netlify/functions/operator-page.mjs";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

const vercel = JSON.parse(readFileSync(new URL("../../vercel.json", import.meta.url), "utf8")) as {
  crons: { path: string; schedule: string }[];
};
const scheduleOf = (path: string) => vercel.crons.find((c) => c.path === path)?.schedule;
/** What Netlify sets in its functions at run time ("Environment variables and functions"); not NETLIFY. */
const NETLIFY_RUN_TIME_ENV = { URL: "https://site.netlify.app", SITE_NAME: "site", SITE_ID: "1d01c0c0-4554-4747-93b8-34ce3448ab95" };

describe("Netlify functions", () => {
  const database = useDatabase("pg");
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    Object.assign(process.env, testEnv(database));
  });
  afterAll(async () => {
    process.env = savedEnv;
  });

  it("serve both endpoints on the same paths as Vercel", () => {
    expect(syncAllConfig.path).toBe("/api/inbox/integrations/sync-all");
    expect(processAutomaticConfig.path).toBe("/api/followups/process-automatic");
  });

  it("schedule both jobs exactly as vercel.json does", () => {
    expect(syncAllSchedule.schedule).toBe(scheduleOf(syncAllConfig.path));
    expect(processAutomaticSchedule.schedule).toBe(scheduleOf(processAutomaticConfig.path));
  });

  it("serve the operator's page at /admin, signing in with a Secure cookie over HTTPS", async () => {
    expect(operatorPageConfig.path).toBe("/admin");
    const form = await operatorPageFn(new Request("https://site.netlify.app/admin"));
    expect(form.status).toBe(200);
    expect(await form.text()).toContain("Se connecter");
    const signIn = await operatorPageFn(new Request("https://site.netlify.app/admin", {
      method: "POST",
      body: new URLSearchParams({ action: "connexion", secret: TEST_CRON_SECRET }),
      headers: { "x-nf-client-connection-ip": "203.0.113.9" },
    }));
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get("set-cookie")).toMatch(/^lokario_operateur=.+; HttpOnly; SameSite=Strict; Secure$/);
  });

  it("answer 403 to a web Request with a wrong secret, and run nothing", async () => {
    const response = await syncAllFn(new Request("https://site.netlify.app/api/inbox/integrations/sync-all?secret=wrong"));
    expect(response.status).toBe(403);
    expect(await database.db.select().from(jobRuns)).toHaveLength(0);
  });

  it("run the job for a web Request with the Bearer secret", async () => {
    const response = await processAutomaticFn(
      new Request("https://site.netlify.app/api/followups/process-automatic", {
        headers: { authorization: `Bearer ${TEST_CRON_SECRET}` },
      }),
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { success: boolean; message: string };
    expect(body).toMatchObject({ success: true, message: "Traitement des relances automatiques terminé avec succès" });
  });

  it("run the scheduled job when Netlify's scheduler calls, without a secret", async () => {
    const response = await syncAllScheduled(
      new Request("https://site.netlify.app/.netlify/functions/sync-all-scheduled", {
        method: "POST",
        headers: { "x-nf-event": "schedule" },
        body: JSON.stringify({ next_run: "2026-11-25T10:05:00.000Z" }),
      }),
    );
    expect(response.status).toBe(200);
    const runs = await database.db.select().from(jobRuns).where(eq(jobRuns.trigger, "schedule"));
    expect(runs.map((r) => r.job)).toEqual(["inbox-sync"]);
  });

  it("run the scheduled job for any invocation Netlify routes to it: no x-nf-event header, no secret, any method", async () => {
    // Netlify documents no header, method or payload for a scheduled invocation ("Run now" included).
    for (const method of ["POST", "GET", "PUT"]) {
      const response = await processAutomaticScheduled(new Request("https://site.netlify.app/.netlify/functions/process-automatic-scheduled", { method }));
      expect(response.status).toBe(200);
    }
    const runs = await database.db.select().from(jobRuns).where(eq(jobRuns.trigger, "schedule"));
    expect(runs.filter((r) => r.job === "followups")).toHaveLength(3);
  });

  it("give a scheduled follow-up run a budget whose last send, at its SMTP time-out, still ends before Netlify's 30 s", async () => {
    Object.assign(process.env, NETLIFY_RUN_TIME_ENV);
    try {
      const response = await processAutomaticScheduled(new Request("https://site.netlify.app/.netlify/functions/process-automatic-scheduled", { method: "POST" }));
      expect(response.status).toBe(200);
      const { runId } = (await response.json()) as { runId: string };
      const [run] = await database.db.select().from(jobRuns).where(eq(jobRuns.runId, runId));
      const budgetMs = run!.leaseUntil!.getTime() - run!.startedAt.getTime() - RUN_LEASE_GRACE_MS;
      expect(budgetMs + 15_000 + FINISH_MARGIN_MS).toBeLessThanOrEqual(30_000);
    } finally {
      for (const name of Object.keys(NETLIFY_RUN_TIME_ENV)) delete process.env[name];
    }
  });

  it("run the scheduled job in production even with no CRON_SECRET, which the scheduler could not send anyway", async () => {
    const saved = { NODE_ENV: process.env.NODE_ENV, CRON_SECRET: process.env.CRON_SECRET };
    Object.assign(process.env, { NODE_ENV: "production" });
    delete process.env.CRON_SECRET;
    try {
      const response = await syncAllScheduled(new Request("https://site.netlify.app/.netlify/functions/sync-all-scheduled", { method: "POST" }));
      expect(response.status).toBe(200);
    } finally {
      Object.assign(process.env, saved);
    }
  });
});
