// How the `lokario-cron` command starts, as a shell or `npx` starts it: from its bundle (rebuilt when
// a source is newer, as after a `git pull` without a new install), and with glibc's malloc arenas
// capped as `npm start` caps them.

import { readFileSync, statSync, utimesSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSilentServer, type SilentServer } from "../support/silent-server.js";
import { runCli, startCli } from "./run-cli.js";

const BUNDLE = fileURLToPath(new URL("../../dist/server/cli.js", import.meta.url));

/** The environment a running process started with, once it is Node (the shebang's shell has handed over). */
async function environmentOfNode(pid: number): Promise<Map<string, string>> {
  await expect.poll(() => {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return basename(argv[0] ?? "");
  }, { timeout: 20_000 }).toMatch(/^node/);
  const entries = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

describe("the lokario-cron command", () => {
  let silent: SilentServer;
  beforeAll(async () => {
    silent = await startSilentServer();
  });
  afterAll(async () => {
    await silent.close();
  });

  it("rebuilds its bundle before running when a source is newer than it", async () => {
    const longAgo = new Date("2020-01-01T00:00:00Z");
    utimesSync(BUNDLE, longAgo, longAgo);
    const result = await runCli(["--help"], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Usage: lokario-cron <command>");
    expect(statSync(BUNDLE).mtimeMs).toBeGreaterThan(longAgo.getTime());
  });

  it("starts with glibc's malloc arenas capped at 2, as npm start does, unless the environment sets them", async () => {
    // A database that never answers holds the command while its environment is read.
    const hanging = { DATABASE_URL: `postgres://lokario@127.0.0.1:${silent.port}/lokario`, LOG_LEVEL: "silent" };
    for (const [given, expected] of [[undefined, "2"], ["4", "4"]] as const) {
      const { child, result } = startCli(["status"], { ...hanging, ...(given ? { MALLOC_ARENA_MAX: given } : {}) });
      try {
        expect((await environmentOfNode(child.pid!)).get("MALLOC_ARENA_MAX")).toBe(expected);
      } finally {
        child.kill();
        await result;
      }
    }
  });
});
