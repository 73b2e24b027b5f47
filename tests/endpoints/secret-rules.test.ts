// Both cron endpoints as Vercel runs them (the GET/POST exports of the api/ modules), on each
// database driver: who may trigger a run, what the answer looks like, and what reaches the logs.

import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { jobRuns } from "../../lib/db/schema.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { DRIVERS, useDatabase } from "../support/databases.js";
import { type CapturedLogs, captureProcessOutput, countRuns, ENDPOINT_CASES, requestTo, useEnvironment } from "./harness.js";

/** Every secret a test presents: none of them may ever be written to a log line. */
const PRESENTED_SECRETS = [
  TEST_CRON_SECRET,
  `${TEST_CRON_SECRET.slice(0, -1)}${TEST_CRON_SECRET.endsWith("f") ? "e" : "f"}`,
  `${TEST_CRON_SECRET}0`,
  "wrong-secret-presented-by-a-stranger-0000",
];
const [SECRET, LAST_CHAR_DIFFERS, ONE_CHAR_LONGER, WRONG] = PRESENTED_SECRETS as [string, string, string, string];

describe.each(DRIVERS)("cron endpoints on %s", (driver) => {
  const database = useDatabase(driver);
  let logs: CapturedLogs;

  beforeEach(() => {
    useEnvironment(testEnv(database, { LOG_LEVEL: "info" }));
    logs = captureProcessOutput();
  });
  afterEach(() => {
    logs.restore();
    vi.unstubAllEnvs();
    for (const secret of PRESENTED_SECRETS) expect(logs.text()).not.toContain(secret);
  });

  describe.each(ENDPOINT_CASES)("$name endpoint", (endpoint) => {
    it("runs the job for ?secret= and answers 200 with the French message, a timestamp and the summary", async () => {
      const response = await endpoint.module.GET(requestTo(endpoint.path, { query: `secret=${encodeURIComponent(SECRET)}` }));
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      const body = (await response.json()) as Record<string, unknown>;
      expect(body.success).toBe(true);
      expect(body.message).toBe(endpoint.message);
      expect(new Date(String(body.timestamp)).toISOString()).toBe(body.timestamp);
      for (const field of endpoint.summaryFields) expect(body).toHaveProperty(field);
      expect(body.remaining).toBe(false);
      const [run] = await database.db.select().from(jobRuns).where(eq(jobRuns.runId, String(body.runId)));
      expect(run).toMatchObject({ job: endpoint.jobName, trigger: "http", status: "success" });
    });

    it("runs the job for Authorization: Bearer (what Vercel Cron sends), on POST as on GET", async () => {
      for (const method of ["GET", "POST"] as const) {
        const request = requestTo(endpoint.path, { method, headers: { authorization: `Bearer ${SECRET}` } });
        const response = await endpoint.module[method](request);
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ success: true, message: endpoint.message });
      }
    });

    it("answers 403 with a JSON error and runs nothing when the secret is wrong", async () => {
      const before = await countRuns(database.db);
      const byQuery = await endpoint.module.GET(requestTo(endpoint.path, { query: `secret=${WRONG}` }));
      const byHeader = await endpoint.module.POST(requestTo(endpoint.path, { method: "POST", headers: { authorization: `Bearer ${WRONG}` } }));
      for (const response of [byQuery, byHeader]) {
        expect(response.status).toBe(403);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body.success).toBe(false);
        expect(String(body.error)).toMatch(/secret/i);
      }
      expect(await countRuns(database.db)).toBe(before);
    });

    it("answers 403 and runs nothing when no secret is given", async () => {
      const before = await countRuns(database.db);
      const response = await endpoint.module.GET(requestTo(endpoint.path));
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ success: false });
      expect(await countRuns(database.db)).toBe(before);
    });

    it("refuses a secret that differs only in its last character, or has one character more", async () => {
      const before = await countRuns(database.db);
      for (const attempt of [LAST_CHAR_DIFFERS, ONE_CHAR_LONGER, SECRET.slice(0, -1)]) {
        const byHeader = await endpoint.module.GET(requestTo(endpoint.path, { headers: { authorization: `Bearer ${attempt}` } }));
        const byQuery = await endpoint.module.GET(requestTo(endpoint.path, { query: `secret=${attempt}` }));
        expect([byHeader.status, byQuery.status]).toEqual([403, 403]);
      }
      expect(await countRuns(database.db)).toBe(before);
    });

    it("logs the original product's trigger line, as structured JSON lines", async () => {
      await endpoint.module.GET(requestTo(endpoint.path, { headers: { authorization: `Bearer ${SECRET}` } }));
      const lines = logs.lines().map((line) => JSON.parse(line) as { msg: string; level: string });
      expect(lines.map((l) => l.msg)).toContain(endpoint.triggerLogLine);
      expect(lines.find((l) => l.msg === "run finished")).toMatchObject({ level: "info", job: endpoint.jobName });
    });
  });
});
