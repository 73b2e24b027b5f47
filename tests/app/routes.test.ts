import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { JOBS } from "../../lib/app/job-registry.js";
import { createRoutes, ROUTES, routeEndpoint, SCHEDULED_FUNCTIONS } from "../../lib/app/routes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Every file under `dir` (relative to the repository), recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(`${ROOT}${dir}`, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => `${entry.parentPath.slice(ROOT.length)}/${entry.name}`.replace(/\/\//g, "/"));
}

/** The argument of `helper("…")` in an entry point's source. */
function argumentOf(source: string, helper: "routeEndpoint" | "scheduledJobEndpoint"): string | undefined {
  return new RegExp(`\\b${helper}\\("([^"]+)"\\)`).exec(source)?.[1];
}

const vercel = JSON.parse(readFileSync(`${ROOT}vercel.json`, "utf8")) as {
  crons: { path: string; schedule: string }[];
  functions: Record<string, { maxDuration?: number }>;
  rewrites: { source: string; destination: string }[];
};

describe("route table", () => {
  it("has one route per path, the jobs' at their registry paths", () => {
    expect(new Set(ROUTES.map((r) => r.path)).size).toBe(ROUTES.length);
    expect(ROUTES.slice(0, JOBS.length).map((r) => r.path)).toEqual(JOBS.map((j) => j.path));
  });

  it("is what the Netlify functions declare: each route's function on its path, each job's scheduled function on its cron, and no other", async () => {
    const declared: Record<string, string> = {};
    for (const file of filesUnder("netlify/functions").filter((f) => f.endsWith(".mts"))) {
      const source = readFileSync(`${ROOT}${file}`, "utf8");
      const { config } = (await import(`${ROOT}${file}`)) as { config: { path?: string; schedule?: string } };
      const path = argumentOf(source, "routeEndpoint");
      const job = argumentOf(source, "scheduledJobEndpoint");
      if (path) {
        expect(config.path, file).toBe(path);
        declared[file] = `route ${path}`;
      } else {
        expect(job, `${file} serves neither a route nor a scheduled job`).toBeDefined();
        declared[file] = `job ${job} at ${config.schedule}`;
      }
    }
    expect(declared).toEqual(Object.fromEntries([
      ...ROUTES.map((r) => [r.netlifyFunction, `route ${r.path}`]),
      ...SCHEDULED_FUNCTIONS.map((s) => [s.netlifyFunction, `job ${s.job} at ${s.schedule}`]),
    ]));
  });

  it("is what Vercel serves: each route's function under api/ with its maxDuration in vercel.json, /admin by its rewrite, and no other function", () => {
    const declared: Record<string, string | undefined> = {};
    for (const file of filesUnder("api").filter((f) => f.endsWith(".ts"))) {
      declared[file] = argumentOf(readFileSync(`${ROOT}${file}`, "utf8"), "routeEndpoint");
    }
    expect(declared).toEqual(Object.fromEntries(ROUTES.map((r) => [r.vercelFunction, r.path])));
    expect(Object.fromEntries(Object.entries(vercel.functions).map(([file, f]) => [file, f.maxDuration])))
      .toEqual(Object.fromEntries(ROUTES.map((r) => [r.vercelFunction, r.maxDurationS])));
    // A path Vercel would not derive from the file's own place is reached through a rewrite.
    const rewritten = ROUTES.filter((r) => `${r.path.slice(1)}.ts` !== r.vercelFunction);
    expect(vercel.rewrites).toEqual(rewritten.map((r) => ({ source: r.path, destination: `/${r.vercelFunction.replace(/\.ts$/, "")}` })));
  });

  it("is what vercel.json schedules: one cron per job on its registry schedule", () => {
    expect(vercel.crons).toEqual(JOBS.map((j) => ({ path: j.path, schedule: j.schedule })));
  });

  it("gives the local server every route of the table, each with the methods it answers", () => {
    const routes = createRoutes();
    expect(Object.keys(routes)).toEqual(ROUTES.map((r) => r.path));
    for (const endpoint of Object.values(routes)) expect(endpoint.methods.length).toBeGreaterThan(0);
  });

  it("refuses a path no route has, so an entry point with a typo fails at once", () => {
    expect(() => routeEndpoint("/api/helth")).toThrow(/no route at \/api\/helth/);
  });
});
