// The local server (`npm start`) over real HTTP: the same endpoints as on Vercel, on an embedded
// PGlite database in a directory it migrates at start and keeps other processes away from.

import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../lib/db/client.js";
import { isSchemaCurrent } from "../../lib/db/migrate.js";
import { TEST_CRON_SECRET, TEST_ENCRYPTION_KEY } from "../support/config.js";
import { type LocalServer, startLocalServer } from "../../server/local.js";
import { countRuns } from "./harness.js";
import { runCli } from "./run-cli.js";

describe("local server", () => {
  const directory = join(mkdtempSync(join(tmpdir(), "lokario-local-")), "pglite");
  const env = {
    NODE_ENV: "test",
    CRON_SECRET: TEST_CRON_SECRET,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    DATABASE_URL: `pglite:${directory}`,
    LOG_LEVEL: "info",
  };
  const logLines: string[] = [];
  let server: LocalServer;

  beforeAll(async () => {
    server = await startLocalServer({ env, port: 0, logSink: (line) => logLines.push(line) });
  });
  afterAll(async () => {
    await server.close();
  });

  it("migrates the embedded database at start and logs where it listens and which driver", async () => {
    const listening = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "listening");
    expect(listening).toMatchObject({ url: server.url, driver: "pglite" });
    expect(server.url).toMatch(/^http:\/\/localhost:\d+$/);
    const { db } = await openDb({ url: env.DATABASE_URL, driver: "pglite" });
    expect(await isSchemaCurrent(db)).toBe(true);
  });

  it("runs the inbox sync for GET ?secret= over HTTP", async () => {
    const response = await fetch(`${server.url}/api/inbox/integrations/sync-all?secret=${TEST_CRON_SECRET}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, message: "Synchronisation inbox terminée avec succès" });
  });

  it("runs the follow-ups for POST with Authorization: Bearer over HTTP, recording the run", async () => {
    const { db } = await openDb({ url: env.DATABASE_URL, driver: "pglite" });
    const before = await countRuns(db);
    const response = await fetch(`${server.url}/api/followups/process-automatic`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_CRON_SECRET}` },
      body: "{}",
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, message: "Traitement des relances automatiques terminé avec succès" });
    expect(await countRuns(db)).toBe(before + 1);
  });

  it("answers the same core's 403 and 405, and 404 JSON on any other path", async () => {
    expect((await fetch(`${server.url}/api/inbox/integrations/sync-all?secret=wrong`)).status).toBe(403);
    const put = await fetch(`${server.url}/api/followups/process-automatic`, { method: "PUT" });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST");
    const missing = await fetch(`${server.url}/api/nothing-here?secret=${TEST_CRON_SECRET}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ success: false });
  });

  it("logs each request by path, never with its query string or the secret", async () => {
    await fetch(`${server.url}/api/inbox/integrations/sync-all?secret=${TEST_CRON_SECRET}`);
    const requests = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request");
    expect(requests).toContainEqual(expect.objectContaining({ method: "GET", path: "/api/inbox/integrations/sync-all", status: 200 }));
    const everything = logLines.join("\n");
    expect(everything).not.toContain(TEST_CRON_SECRET);
    expect(everything).not.toContain("?secret");
  });

  it("serves the health check and, behind the secret, the cron status", async () => {
    const health = await fetch(`${server.url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", database: "reachable", migrations: "current" });
    expect((await fetch(`${server.url}/api/cron/status`)).status).toBe(403);
    const status = await fetch(`${server.url}/api/cron/status`, { headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ success: true, jobs: { "inbox-sync": expect.any(Object), followups: expect.any(Object) } });
  });

  it("runs both jobs on the schedules of vercel.json, recorded as scheduled runs", async () => {
    const started = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "scheduler started");
    expect(started).toMatchObject({ jobs: ["inbox-sync */5 * * * *", "followups 0 * * * *"] });
    const { db } = await openDb({ url: env.DATABASE_URL, driver: "pglite" });
    const before = await countRuns(db);
    server.scheduler!.tick(new Date("2026-11-25T10:00:00Z")); // both jobs are due on the hour
    await expect.poll(() => countRuns(db), { timeout: 20_000 }).toBe(before + 2);
  });

  it("keeps the CLI off its PGlite directory while it runs, saying which process holds it", async () => {
    const result = await runCli(["migrate"], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`in use by process ${process.pid} (npm start)`);
    expect(result.stderr).toContain("DATABASE_URL");
  });

  it("shuts down cleanly: stops listening, closes the database and releases the directory for the CLI", async () => {
    expect(existsSync(`${directory}.lock`)).toBe(true);
    await server.close();
    expect(existsSync(`${directory}.lock`)).toBe(false);
    await expect(fetch(`${server.url}/api/inbox/integrations/sync-all`)).rejects.toThrow();
    const afterwards = await runCli(["migrate", "--json"], { ...env, LOG_LEVEL: "silent" });
    expect(afterwards.stderr).toBe("");
    expect(JSON.parse(afterwards.stdout)).toMatchObject({ success: true, driver: "pglite", applied: false });
    expect(afterwards.code).toBe(0);
  });

  it("runs no schedule when started with --no-cron", async () => {
    const quiet = await startLocalServer({ env: { ...env, LOG_LEVEL: "silent" }, port: 0, isCronOn: false });
    try {
      expect(quiet.scheduler).toBeUndefined();
    } finally {
      await quiet.close();
    }
  });
});
