import { describe, expect, it } from "vitest";
import { JOBS } from "../../lib/app/job-registry.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { healthEndpoint, cronStatusEndpoint } from "../../lib/ops/ops-endpoints.js";
import { processAutomaticJob } from "../../lib/followups/process-automatic.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { seedCompany, seedInvoiceFollowup } from "../followups/seed.js";
import { TEST_CRON_SECRET, testConfig, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

describe("operations endpoints", () => {
  const database = useDatabase("pg");

  it("reports health without a secret: database reachable, migrations current, version", async () => {
    const health = healthEndpoint({ env: () => testEnv(database) });
    const response = await health(new Request("http://local/api/health"));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok", database: "reachable", migrations: "current", version: expect.any(String) });
  });

  it("answers 503 with no private detail when the database is unreachable", async () => {
    const health = healthEndpoint({ env: () => ({ ...testEnv(database), DATABASE_URL: "postgres://lokario:hunter2@127.0.0.1:1/none", DATABASE_DRIVER: "pg" }) });
    const response = await health(new Request("http://local/api/health"));
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ status: "degraded", database: "unreachable" });
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("127.0.0.1");
  });

  it("keeps the cron status behind the secret", async () => {
    const status = cronStatusEndpoint(JOBS, { env: () => testEnv(database) });
    expect((await status(new Request("http://local/api/cron/status"))).status).toBe(403);
    expect((await status(new Request("http://local/api/cron/status?secret=nope"))).status).toBe(403);
  });

  it("shows the last runs, the failing mailboxes since when, and why follow-ups wait", async () => {
    const now = new Date("2026-03-24T09:00:00Z"); // a Tuesday, 10:00 in Paris
    const companyId = await seedCompany(database.db);
    await seedInvoiceFollowup(database.db, { companyId });
    await seedInvoiceFollowup(database.db, { companyId, dueDate: new Date("2026-03-20T00:00:00Z") });
    const failingSince = new Date("2026-03-24T07:00:00Z");
    await database.db.insert(inboxIntegrations).values({
      companyId, name: "Boîte principale", emailAddress: "contact@atelier.test", imapServer: "imap.atelier.test",
      lastSyncStatus: "error", lastSyncError: "authentication failed", consecutiveFailures: 4, failingSince,
    });
    await runJob(processAutomaticJob, { isDryRun: true }, {
      config: testConfig(database), log: createLogger("test", { level: "silent" }), trigger: "test", now: () => now,
    });

    // A dry run never connects: the SMTP settings only need to exist.
    const smtpEnv = { SMTP_HOST: "127.0.0.1", SMTP_PORT: "2525", SMTP_FROM: "relances@atelier.test" };
    const status = cronStatusEndpoint(JOBS, { env: () => testEnv(database, smtpEnv), now: () => now });
    const response = await status(new Request("http://local/api/cron/status", { headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      jobs: Record<string, { lastRuns: { status: string; trigger: string }[] }>;
      failingIntegrations: { name: string; lastSyncError: string; failingSince: string; consecutiveFailures: number }[];
      followups: { wouldSendNow: number; waitingByReason: Record<string, number> };
    };
    expect(body.jobs.followups!.lastRuns[0]).toMatchObject({ status: "success", trigger: "test" });
    expect(body.jobs["inbox-sync"]!.lastRuns).toEqual([]);
    expect(body.failingIntegrations).toEqual([
      expect.objectContaining({ name: "Boîte principale", lastSyncError: "authentication failed", consecutiveFailures: 4, failingSince: failingSince.toISOString() }),
    ]);
    expect(body.followups.wouldSendNow).toBe(1);
    expect(body.followups.waitingByReason).toEqual({ not_due_yet: 1 });
    expect(JSON.stringify(body)).not.toContain("email_password");
  });
});
