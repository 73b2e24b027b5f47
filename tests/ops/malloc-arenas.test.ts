// The health check's `mallocArenaMax`: what glibc saw when the process started, not what
// `process.env` says later (a launcher that sets the variable after start caps nothing).

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { mallocArenaMaxAtStart } from "../../lib/ops/malloc-arenas.js";

const REPOSITORY = fileURLToPath(new URL("../..", import.meta.url));

/** Runs a Node process with `env` that sets `late` into its own environment, then reports the cap. */
function capSeenBy(env: Record<string, string>, late?: string): unknown {
  const script = [
    late === undefined ? "" : `process.env.MALLOC_ARENA_MAX = ${JSON.stringify(late)};`,
    `const { mallocArenaMaxAtStart } = await import("./lib/ops/malloc-arenas.ts");`,
    "console.log(JSON.stringify(mallocArenaMaxAtStart()));",
  ].join("\n");
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: REPOSITORY, env: { PATH: process.env.PATH!, ...env }, encoding: "utf8",
  });
  return JSON.parse(out.trim());
}

describe("malloc arenas at start", () => {
  it("reports the cap a process was started with", () => {
    expect(capSeenBy({ MALLOC_ARENA_MAX: "2" })).toBe(2);
  });

  it("reports none when the variable was set only after the process started", () => {
    expect(capSeenBy({}, "2")).toBeNull();
  });

  it("reports none for a value glibc would not take as a cap", () => {
    for (const value of ["", "0", "two", "-1", "2 "]) expect(mallocArenaMaxAtStart(`PATH=/bin\0MALLOC_ARENA_MAX=${value}\0`)).toBeNull();
    expect(mallocArenaMaxAtStart(`MALLOC_ARENA_MAX=4\0PATH=/bin\0`)).toBe(4);
    expect(mallocArenaMaxAtStart(`XMALLOC_ARENA_MAX=4\0`)).toBeNull();
    expect(mallocArenaMaxAtStart(null)).toBeNull();
  });
});
