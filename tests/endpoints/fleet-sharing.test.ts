// Sync pings shared over several processes on one PostgreSQL database: four `server/local.ts`
// processes pinged at once, and one ping that fans out over its own deployment (a local server).
// Each mailbox is synced by exactly one run, each message imported once.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { count, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxMessages, jobRuns } from "../../lib/db/schema.js";
import { type LocalServer, startLocalServer } from "../../server/local.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { createMailboxes, insertIntegration, rawMail } from "../support/mailbox.js";
import { freePort } from "../support/ports.js";

const REPOSITORY = fileURLToPath(new URL("../..", import.meta.url));
/** Start-up compiles TypeScript on the fly and migrates: generous, on a shared 2-core machine. */
const START_TIMEOUT_MS = 90_000;
const SYNC_PATH = "/api/inbox/integrations/sync-all";

interface SyncAnswer {
  integrations: { attempted: number; succeeded: number; failed: number };
  messagesImported: number;
  remaining: boolean;
  fanout?: { started: number; answered: number; integrations: { attempted: number }; messagesImported: number };
}

describe("sync pings shared across processes (pg)", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-fleet-share-"));

  /** `count` mailboxes of `perMailbox` messages each, with their integrations; returns the integration ids. */
  const fleet = async (size: number, perMailbox: number) => {
    const mailboxes = await createMailboxes(size);
    for (let i = 0; i < mailboxes.length; i += 10) {
      await Promise.all(mailboxes.slice(i, i + 10).map((m) => m.appendAll(Array.from({ length: perMailbox }, () => ({ raw: rawMail() })))));
    }
    const ids: number[] = [];
    for (const mailbox of mailboxes) ids.push((await insertIntegration(database.db, mailbox)).integrationId);
    return ids;
  };
  const importedBy = async (ids: number[]) =>
    (await database.db.select({ n: count() }).from(inboxMessages).where(inArray(inboxMessages.integrationId, ids)))[0]!.n;
  const ping = async (baseUrl: string): Promise<SyncAnswer> => {
    const response = await fetch(`${baseUrl}${SYNC_PATH}`, { method: "POST", headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as SyncAnswer;
  };

  describe("four `npm start` processes on one database, pinged at once", () => {
    const processes: ChildProcess[] = [];
    const outputs: string[] = [];

    afterAll(() => {
      // Only the processes this test started, by pid.
      for (const child of processes) if (child.exitCode === null) child.kill("SIGKILL");
    });

    it("imports every message exactly once and shares the mailboxes among the processes", async () => {
      // More than the four processes could take with the old fixed 20 mailboxes per run.
      const ids = await fleet(100, 2);
      const env = {
        PATH: process.env.PATH, HOME: process.env.HOME,
        ...testEnv(database, { PORT: "0", LOG_LEVEL: "info", ATTACHMENTS_DIR: attachmentsDir, SYNC_CONCURRENCY: "3", RUN_BUDGET_MS: "60000" }),
      };
      for (let i = 0; i < 4; i++) {
        const child = spawn(process.execPath, ["--import", "tsx", "server/local.ts", "--no-cron"], { cwd: REPOSITORY, env, stdio: ["ignore", "pipe", "pipe"] });
        outputs[i] = "";
        child.stdout!.on("data", (chunk: Buffer) => (outputs[i] += chunk.toString("utf8")));
        child.stderr!.on("data", (chunk: Buffer) => (outputs[i] += chunk.toString("utf8")));
        processes.push(child);
      }
      await expect.poll(() => outputs.map(listeningUrl).every(Boolean), { timeout: START_TIMEOUT_MS, interval: 200 }).toBe(true);

      const answers = await Promise.all(outputs.map((output) => ping(listeningUrl(output)!)));

      expect(answers.reduce((n, a) => n + a.integrations.attempted, 0)).toBe(100);
      expect(answers.reduce((n, a) => n + a.integrations.succeeded, 0)).toBe(100);
      expect(answers.reduce((n, a) => n + a.messagesImported, 0)).toBe(200);
      expect(answers.every((a) => a.integrations.attempted > 0)).toBe(true);
      expect(answers.every((a) => !a.remaining)).toBe(true);
      expect(await importedBy(ids)).toBe(200);
    }, 180_000);
  });

  describe("a ping that fans out", () => {
    let server: LocalServer;
    const logLines: string[] = [];

    beforeAll(async () => {
      const port = await freePort();
      const env = testEnv(database, {
        LOG_LEVEL: "info", ATTACHMENTS_DIR: attachmentsDir, SYNC_CONCURRENCY: "2", RUN_BUDGET_MS: "60000",
        FANOUT_MAX_INVOCATIONS: "3", FANOUT_MAILBOXES_PER_INVOCATION: "5", FANOUT_BASE_URL: `http://127.0.0.1:${port}`,
      });
      server = await startLocalServer({ env, port, isCronOn: false, logSink: (line) => logLines.push(line) });
    });
    afterAll(async () => {
      await server.close();
    });

    it("starts parallel invocations that share the due mailboxes, each synced once, and no invocation fans out again", async () => {
      const ids = await fleet(20, 1);
      const runsBefore = await syncRuns();

      const answer = await ping(server.url);

      expect(answer.fanout).toMatchObject({ started: 3, answered: 3 });
      expect(answer.fanout!.integrations.attempted).toBeGreaterThan(0);
      expect(answer.integrations.attempted).toBeGreaterThan(0);
      expect(answer.integrations.attempted + answer.fanout!.integrations.attempted).toBe(20);
      expect(answer.messagesImported + answer.fanout!.messagesImported).toBe(20);
      expect(await importedBy(ids)).toBe(20);
      // The parent and its three children, and nothing started by a child.
      expect((await syncRuns()) - runsBefore).toBe(4);
      expect(logLines.filter((l) => l.includes('"msg":"fanning out"'))).toHaveLength(1);
    });

    const syncRuns = async () => (await database.db.select({ n: count() }).from(jobRuns).where(eq(jobRuns.job, "inbox-sync")))[0]!.n;
  });
});

/** The address a spawned server printed in its "listening" line, once it did. */
function listeningUrl(output: string): string | undefined {
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const parsed = JSON.parse(line) as { msg?: string; url?: string };
    if (parsed.msg === "listening") return parsed.url;
  }
  return undefined;
}
