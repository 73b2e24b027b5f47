// The endpoint rules that do not depend on the database driver: an unset secret, methods other
// than GET/POST, an unreachable database, and the follow-up job's dry run.

import { inject } from "vitest";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { processAutomaticJob, type FollowupParams } from "../../lib/followups/process-automatic.js";
import { cronEndpoint } from "../../lib/jobs/cron-endpoint.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { freePort } from "../support/ports.js";
import { type CapturedLogs, captureProcessOutput, countRuns, ENDPOINT_CASES, requestTo, useEnvironment } from "./harness.js";

describe.each(ENDPOINT_CASES)("$name endpoint", (endpoint) => {
  const database = useDatabase("pg");
  let logs: CapturedLogs;

  beforeEach(() => {
    logs = captureProcessOutput();
  });
  afterEach(() => {
    logs.restore();
    vi.unstubAllEnvs();
    expect(logs.text()).not.toContain(TEST_CRON_SECRET);
  });

  it("lets a request through outside production when CRON_SECRET is unset, and logs a warning", async () => {
    useEnvironment(testEnv(database, { CRON_SECRET: "", LOG_LEVEL: "info" }));
    const response = await endpoint.module.GET(requestTo(endpoint.path));
    expect(response.status).toBe(200);
    const warning = logs.lines().map((l) => JSON.parse(l) as { level: string; msg: string }).find((l) => l.level === "warn");
    expect(warning?.msg).toMatch(/CRON_SECRET is not set/);
  });

  it.each([
    ["NODE_ENV=production", { NODE_ENV: "production" }],
    ["VERCEL_ENV=production", { VERCEL_ENV: "production" }],
    // Reachable by anyone whatever NODE_ENV says: Netlify sets none in its functions.
    ["a Netlify function's variables and no NODE_ENV", { URL: "https://site.netlify.app", SITE_NAME: "site", SITE_ID: "1d01c0c0-4554-4747-93b8-34ce3448ab95" }],
    ["a Vercel preview deployment", { VERCEL: "1", VERCEL_ENV: "preview" }],
  ])("answers 503 saying CRON_SECRET is not configured, and runs nothing, when it is unset with %s", async (_, production) => {
    useEnvironment(testEnv(database, { CRON_SECRET: "", ...production }));
    const before = await countRuns(database.db);
    for (const request of [requestTo(endpoint.path), requestTo(endpoint.path, { query: "secret=" })]) {
      const response = await endpoint.module.GET(request);
      expect(response.status).toBe(503);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body.success).toBe(false);
      expect(String(body.error)).toContain("CRON_SECRET is not configured");
    }
    expect(await countRuns(database.db)).toBe(before);
  });

  it("still requires the secret in production when it is set", async () => {
    useEnvironment(testEnv(database, { NODE_ENV: "production" }));
    expect((await endpoint.module.GET(requestTo(endpoint.path))).status).toBe(403);
    const allowed = await endpoint.module.GET(requestTo(endpoint.path, { headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } }));
    expect(allowed.status).toBe(200);
  });

  it("refuses to run in production on a CRON_SECRET shorter than 32 characters, even when it matches", async () => {
    useEnvironment(testEnv(database, { NODE_ENV: "production", CRON_SECRET: "short-secret" }));
    const before = await countRuns(database.db);
    const response = await endpoint.module.GET(requestTo(endpoint.path, { headers: { authorization: "Bearer short-secret" } }));
    expect(response.status).toBe(503);
    expect(String(((await response.json()) as { error: string }).error)).toContain("CRON_SECRET is too short");
    expect(await countRuns(database.db)).toBe(before);
  });

  it("accepts a CRON_SECRET pasted with a trailing newline", async () => {
    useEnvironment(testEnv(database, { CRON_SECRET: `${TEST_CRON_SECRET}\n` }));
    const response = await endpoint.module.GET(requestTo(endpoint.path, { headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } }));
    expect(response.status).toBe(200);
  });

  it("accepts CRON_SECRET_NEXT during a rotation", async () => {
    const next = "next-cron-secret-during-rotation-0123456789";
    useEnvironment(testEnv(database, { CRON_SECRET_NEXT: next }));
    const response = await endpoint.module.GET(requestTo(endpoint.path, { headers: { authorization: `Bearer ${next}` } }));
    expect(response.status).toBe(200);
    expect(logs.text()).not.toContain(next);
  });

  it.each(["PUT", "DELETE", "PATCH"] as const)("answers %s with 405, an Allow header and a JSON error, and runs nothing", async (method) => {
    useEnvironment(testEnv(database));
    const before = await countRuns(database.db);
    const request = requestTo(endpoint.path, { method, headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } });
    const response = await endpoint.module[method](request);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, POST");
    expect(await response.json()).toMatchObject({ success: false });
    expect(await countRuns(database.db)).toBe(before);
  });

  it.each(["pg", "neon"] as const)(
    "answers 500 with success:false and a clear message, without stack or secrets, when the database is unreachable (%s)",
    async (driver) => {
      const dbPassword = "db-password-that-must-not-leak";
      const url = `postgres://lokario:${dbPassword}@127.0.0.1:${await freePort()}/nowhere`;
      useEnvironment({
        ...testEnv(database, { LOG_LEVEL: "info" }),
        DATABASE_URL: url,
        DATABASE_DRIVER: driver,
        NEON_WEBSOCKET_PROXY: driver === "neon" ? inject("neonWsProxy") : undefined,
      });
      const response = await endpoint.module.GET(requestTo(endpoint.path, { query: `secret=${TEST_CRON_SECRET}` }));
      expect(response.status).toBe(500);
      const text = await response.text();
      const body = JSON.parse(text) as Record<string, unknown>;
      expect(body.success).toBe(false);
      expect(String(body.error)).toMatch(/Database unreachable/);
      for (const leak of [dbPassword, TEST_CRON_SECRET, "    at ", "node_modules"]) expect(text).not.toContain(leak);
      expect(logs.text()).not.toContain(dbPassword);
      expect(logs.text()).toContain("database unreachable");
    },
  );
});

describe("process-automatic endpoint and the dry run", () => {
  const database = useDatabase("pg");

  it("passes ?dry_run=1 to the follow-up job as a dry run, and no dry run otherwise", async () => {
    const received: FollowupParams[] = [];
    // The real job's parameter parsing, with a run that only records what it was asked to do.
    const endpoint = cronEndpoint(
      {
        ...processAutomaticJob,
        run: async (_ctx, params) => {
          received.push(params);
          return { isDryRun: params.isDryRun, examined: 0, sent: 0, skipped: 0, skippedByReason: {}, closed: 0, closedByReason: {}, failed: 0, failures: [], uncertain: 0, remaining: false };
        },
      },
      { env: () => testEnv(database), logSink: () => {} },
    );
    const path = "/api/followups/process-automatic";
    for (const query of ["dry_run=1", "dry_run=true", "", "dry_run=0"]) {
      const response = await endpoint(requestTo(path, { query: `${query}&secret=${TEST_CRON_SECRET}` }));
      expect(response.status).toBe(200);
    }
    expect(received.map((p) => p.isDryRun)).toEqual([true, true, false, false]);
  });
});
