// The Netlify functions as Netlify deploys and runs them: bundled by Netlify's own bundler
// (zip-it-and-ship-it, configured from netlify.toml as Netlify's build does), then invoked through
// the bundle's entry point and Netlify's bootstrap in a process of their own that sees only what a
// Netlify function sees: the site's variables and the ones Netlify sets at run time (not NETLIFY).

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxMessages, jobRuns, messageAttachments } from "../../lib/db/schema.js";
import { RUN_LEASE_GRACE_MS } from "../../lib/jobs/abandon-runs.js";
import { FINISH_MARGIN_MS, NETLIFY_SCHEDULED_LIMIT_MS, NETLIFY_SYNCHRONOUS_LIMIT_MS } from "../../lib/jobs/budget.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration } from "../support/mailbox.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** What Netlify sets in a function at run time ("Environment variables and functions"). */
const NETLIFY_RUN_TIME_ENV = { URL: "https://site.netlify.app", SITE_NAME: "site", SITE_ID: "1d01c0c0-4554-4747-93b8-34ce3448ab95" };

/** What the bundler says of each function it built. */
interface BuiltFunction {
  name: string;
  path: string;
  runtimeVersion: string;
}

describe("Netlify functions as built by Netlify's bundler", () => {
  const database = useDatabase("pg");
  let outDir: string;
  let built: BuiltFunction[];
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), "lokario-netlify-"));
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, "tests/support/netlify-build.mjs"), outDir], { maxBuffer: 64 * 1024 * 1024 });
    built = JSON.parse(stdout) as BuiltFunction[];
  }, 300_000);

  afterAll(async () => {
    for (const server of servers) server.kill();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  }, 120_000);

  /** Starts the built function `name` in a process with only a Netlify function's environment. */
  async function serve(name: string, kind: "request" | "scheduled" = "request"): Promise<string> {
    const limitMs = kind === "scheduled" ? NETLIFY_SCHEDULED_LIMIT_MS : NETLIFY_SYNCHRONOUS_LIMIT_MS;
    const child = spawn(process.execPath, [join(ROOT, "tests/support/netlify-function-server.mjs"), join(outDir, name), String(limitMs), kind], {
      // The site's variables (NODE_ENV=production, as docs/deploying.md says to set) and Netlify's own; no NETLIFY, no VERCEL.
      env: { PATH: process.env.PATH, HOME: outDir, ...testEnv(database, { NODE_ENV: "production" }), ...NETLIFY_RUN_TIME_ENV },
      stdio: ["ignore", "pipe", "inherit"],
    });
    servers.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.once("data", (d: Buffer) => resolve(d.toString()));
      child.once("exit", (code) => reject(new Error(`function server exited with ${code}`)));
    });
    return `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
  }

  it("bundles every function for Node.js 24 without PGlite or the migrations' SQL, which no function reads", () => {
    expect(built.map((f) => f.name).sort()).toEqual(readdirSync(join(ROOT, "netlify/functions")).map((f) => f.replace(/\.mts$/, "")).sort());
    for (const fn of built) {
      expect(fn.runtimeVersion, fn.name).toBe("nodejs24.x");
      expect(existsSync(join(fn.path, "node_modules/@electric-sql/pglite")), fn.name).toBe(false);
      const migrations = existsSync(join(fn.path, "drizzle")) ? readdirSync(join(fn.path, "drizzle")) : [];
      expect(migrations.filter((f) => f.endsWith(".sql")), fn.name).toEqual([]);
    }
  });

  it("answers the health check from the built function, with the migrations' journal it compares against", async () => {
    const response = await fetch(`${await serve("health")}/api/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok", database: "reachable", migrations: "current" });
  });

  it("refuses a wrong secret on the built sync endpoint and runs nothing", async () => {
    const before = (await database.db.select().from(jobRuns)).length;
    const response = await fetch(`${await serve("sync-all")}/api/inbox/integrations/sync-all?secret=wrong`);
    expect(response.status).toBe(403);
    expect((await database.db.select().from(jobRuns)).length).toBe(before);
  });

  it("imports a mail's attachment into the database, never onto the function's own disk", async () => {
    const mailbox = await createMailbox();
    const pdf = Buffer.from("%PDF-1.4\nfacture Netlify\n%%EOF\n");
    await mailbox.append([
      "From: Client <client@example.test>", "To: contact@lokario.test", "Subject: Facture jointe",
      `Date: ${new Date().toUTCString()}`, "Message-ID: <facture-netlify@example.test>", "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="b"', "", "--b", "Content-Type: text/plain; charset=utf-8", "",
      "Voici la facture.", "--b", 'Content-Type: application/pdf; name="facture.pdf"',
      'Content-Disposition: attachment; filename="facture.pdf"', "Content-Transfer-Encoding: base64", "",
      pdf.toString("base64"), "--b--", "",
    ].join("\r\n"));
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const response = await fetch(`${await serve("sync-all")}/api/inbox/integrations/sync-all`, {
      headers: { authorization: `Bearer ${TEST_CRON_SECRET}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, messagesImported: 1, integrations: { failed: 0 } });
    const [row] = await database.db
      .select()
      .from(messageAttachments)
      .innerJoin(inboxMessages, eq(inboxMessages.id, messageAttachments.messageId))
      .where(eq(inboxMessages.integrationId, integrationId));
    expect(row!.message_attachments).toMatchObject({ name: "facture.pdf", isStored: true, filePath: expect.stringMatching(/^db:/) });
    expect(existsSync(join(outDir, "sync-all", ".data"))).toBe(false);
  });

  it("runs a scheduled follow-up run whose last send, at its SMTP time-out, ends before Netlify's 30 s", async () => {
    const response = await fetch(`${await serve("process-automatic-scheduled", "scheduled")}/.netlify/functions/process-automatic-scheduled`);
    expect(response.status).toBe(200);
    const { runId } = (await response.json()) as { runId: string };
    const [run] = await database.db.select().from(jobRuns).where(eq(jobRuns.runId, runId));
    expect(run).toMatchObject({ job: "followups", trigger: "schedule", status: "success" });
    const budgetMs = run!.leaseUntil!.getTime() - run!.startedAt.getTime() - RUN_LEASE_GRACE_MS;
    expect(budgetMs + 15_000 + FINISH_MARGIN_MS).toBeLessThanOrEqual(NETLIFY_SCHEDULED_LIMIT_MS);
  });
});
