import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobRuns } from "../../lib/db/schema.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FUNCTIONS = {
  "/api/inbox/integrations/sync-all": "Synchronisation inbox terminée avec succès",
  "/api/followups/process-automatic": "Traitement des relances automatiques terminé avec succès",
};
/** What a deployment would not upload, or that only matters here. */
const NOT_DEPLOYED = new Set(["node_modules", ".git", ".data", ".vercel", "scratch", "coverage", "dist"]);

describe("vercel build output", () => {
  let outDir: string;
  const database = useDatabase("pg");
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    const work = mkdtempSync(join(tmpdir(), "lokario-vercel-"));
    cpSync(ROOT, work, { recursive: true, filter: (src) => !NOT_DEPLOYED.has(src.slice(ROOT.length).split("/")[0] ?? "") });
    // The dependencies already installed from the lockfile, rather than `vercel build` installing
    // them again from the registry: that install took minutes on a loaded machine and timed out.
    symlinkSync(join(ROOT, "node_modules"), join(work, "node_modules"), "dir");
    mkdirSync(join(work, ".vercel"));
    // A hand-written project link: `vercel build` then needs no account and no Vercel API, and an
    // empty install command skips the install step (the project's `npm run build` still runs).
    writeFileSync(
      join(work, ".vercel", "project.json"),
      JSON.stringify({ projectId: "prj_local", orgId: "team_local", settings: { framework: null, installCommand: "" } }),
    );
    execFileSync(join(ROOT, "node_modules", ".bin", "vercel"), ["build", "--yes"], {
      cwd: work,
      stdio: "pipe",
      // A build traces every function's files: about 1.5 minutes on an idle 2-core machine, several
      // times that when the machine is busy; the bound only stops a build that hangs.
      timeout: 840_000,
      env: { ...process.env, VERCEL_TELEMETRY_DISABLED: "1", CI: "1" },
    });
    outDir = join(work, ".vercel", "output");
  }, 900_000);

  afterAll(async () => {
    for (const server of servers) server.kill();
    if (outDir) rmSync(join(outDir, "..", ".."), { recursive: true, force: true });
    // The build output holds a bundle per function: removing it is slow on a busy 2-core machine.
  }, 180_000);

  /** Starts the built function of `path` behind a local HTTP server, with the test environment. */
  async function serve(path: string): Promise<string> {
    const child = spawn(process.execPath, [join(ROOT, "tests/support/vercel-function-server.mjs"), join(outDir, "functions", `${path.slice(1)}.func`)], {
      env: { ...process.env, ...testEnv(database) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    servers.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.once("data", (d: Buffer) => resolve(d.toString()));
      child.once("exit", (code) => reject(new Error(`function server exited with ${code}`)));
    });
    return `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}${path}`;
  }

  it("declares both crons on the documented schedules", () => {
    const config = JSON.parse(readFileSync(join(outDir, "config.json"), "utf8")) as { crons: unknown };
    expect(config.crons).toEqual([
      { path: "/api/inbox/integrations/sync-all", schedule: "*/5 * * * *" },
      { path: "/api/followups/process-automatic", schedule: "0 * * * *" },
    ]);
  });

  it("publishes only the public folder as static files, never the source", () => {
    expect(existsSync(join(outDir, "static", "index.html"))).toBe(true);
    expect(existsSync(join(outDir, "static", "lib"))).toBe(false);
    expect(existsSync(join(outDir, "static", "package.json"))).toBe(false);
  });

  it("leaves PGlite and the migrations' SQL out of every function, keeping the journal the health check reads", () => {
    const functionDirs = readdirSync(join(outDir, "functions"), { recursive: true, encoding: "utf8" })
      .filter((path) => path.endsWith(".func"))
      .map((path) => join(outDir, "functions", path));
    expect(functionDirs.length).toBeGreaterThanOrEqual(8);
    for (const dir of functionDirs) {
      expect(existsSync(join(dir, "node_modules/@electric-sql/pglite")), dir).toBe(false);
      const migrations = existsSync(join(dir, "drizzle")) ? readdirSync(join(dir, "drizzle")) : [];
      expect(migrations.filter((f) => f.endsWith(".sql")), dir).toEqual([]);
    }
    expect(existsSync(join(outDir, "functions/api/health.func/drizzle/meta/_journal.json"))).toBe(true);
  });

  it("builds the health check with the migrations it compares against, public and private-free", async () => {
    const url = await serve("/api/health");
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "ok", database: "reachable", migrations: "current" });
  });

  it("builds the cron status behind the secret", async () => {
    const url = await serve("/api/cron/status");
    expect((await fetch(url)).status).toBe(403);
    const response = await fetch(url, { headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, jobs: expect.any(Object) });
  });

  it("builds the operator's page, reached at /admin through a rewrite, with its sign-in form", async () => {
    const config = JSON.parse(readFileSync(join(outDir, "config.json"), "utf8")) as { routes: { src?: string; dest?: string }[] };
    expect(config.routes).toContainEqual(expect.objectContaining({ src: "^/admin$", dest: "/api/admin" }));
    const url = await serve("/api/admin");
    const form = await fetch(url);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain("Se connecter");
    const signIn = await fetch(url, { method: "POST", body: new URLSearchParams({ action: "connexion", secret: TEST_CRON_SECRET }), redirect: "manual" });
    expect(signIn.status).toBe(303);
    const page = await fetch(url, { headers: { cookie: signIn.headers.get("set-cookie")!.split(";")[0]! } });
    expect(await page.text()).toContain("Boîtes mail");
  });

  for (const [path, message] of Object.entries(FUNCTIONS)) {
    it(`builds ${path} with its maxDuration and answers real HTTP requests`, async () => {
      const vcConfig = JSON.parse(readFileSync(join(outDir, "functions", `${path.slice(1)}.func`, ".vc-config.json"), "utf8")) as {
        maxDuration: number;
      };
      expect(vcConfig.maxDuration).toBe(60);
      const url = await serve(path);
      const before = (await database.db.select().from(jobRuns)).length;
      expect((await fetch(`${url}?secret=wrong`)).status).toBe(403);
      expect((await database.db.select().from(jobRuns)).length).toBe(before);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${TEST_CRON_SECRET}` } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ success: true, message });
      expect((await fetch(url, { method: "DELETE" })).status).toBe(405);
    });
  }
});
