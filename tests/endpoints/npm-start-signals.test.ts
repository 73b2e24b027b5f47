// `npm start`, the command the README and the systemd unit of docs/deploying.md give, as a real process tree: a SIGTERM
// to npm alone (what systemd with KillMode=mixed, Docker and process managers send) must stop the
// server cleanly, answer the request in flight, and leave no process behind.

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CRON_SECRET, TEST_ENCRYPTION_KEY } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { type GateProxy, startGateProxy } from "../support/gate-proxy.js";

const REPOSITORY = fileURLToPath(new URL("../..", import.meta.url));
/** Start-up compiles TypeScript on the fly and migrates: generous, on a shared 2-core machine. */
const START_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 20_000;

describe("npm start under a process manager", () => {
  const database = useDatabase("pg");
  let gate: GateProxy;
  let npm: ChildProcess;
  let output = "";
  let tree: number[] = [];

  beforeAll(async () => {
    const target = new URL(database.env.DATABASE_URL!);
    gate = await startGateProxy(Number(target.port));
    target.port = String(gate.port);
    npm = spawn("npm", ["start", "--", "--no-cron"], {
      cwd: REPOSITORY,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: "test",
        PORT: "0",
        DATABASE_URL: target.href,
        DATABASE_DRIVER: "pg",
        CRON_SECRET: TEST_CRON_SECRET,
        ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
        LOG_LEVEL: "info",
      },
      // Its own process group, so that no signal meant for the test runner reaches it, and back.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    npm.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    npm.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  });

  afterAll(async () => {
    // Whatever a failed run left behind, by pid: only the processes this test started.
    for (const pid of [npm.pid!, ...tree]) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    await gate.close();
  });

  it("stops the whole process tree on SIGTERM to npm, after answering the request in flight", async () => {
    await expect.poll(() => logLine(output, "listening"), { timeout: START_TIMEOUT_MS }).toBeDefined();
    const url = String(logLine(output, "listening")!.url);
    tree = descendantsOf(npm.pid!);
    expect(tree.length).toBeGreaterThan(0); // at least the node process that serves

    // A request that waits on the database while the signal arrives.
    gate.hold();
    let isAnswered = false;
    const inFlight = fetch(`${url}/api/health`).finally(() => (isAnswered = true));
    await expect.poll(() => gate.heldBytes()).toBeGreaterThan(0);

    process.kill(npm.pid!, "SIGTERM");
    await expect.poll(() => logLine(output, "shutting down"), { timeout: STOP_TIMEOUT_MS }).toMatchObject({ signal: "SIGTERM" });
    expect(isAnswered).toBe(false);
    gate.release();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    // npm start caps glibc's malloc arenas unless told otherwise (docs/deploying.md, "Memory").
    expect(await answer.json()).toMatchObject({ status: "ok", mallocArenaMax: 2 });

    await expect.poll(() => [npm.pid!, ...tree].filter(isAlive), { timeout: STOP_TIMEOUT_MS }).toEqual([]);
    // The process may be gone from /proc before its 'exit' event reaches this side.
    await expect.poll(() => npm.exitCode, { timeout: STOP_TIMEOUT_MS }).toBe(0);
    expect(logLine(output, "stopped")).toBeDefined();
    expect(await isPortOpen(new URL(url).port)).toBe(false);
  });
});

/** The first JSON log line with this message. */
function logLine(text: string, msg: string): Record<string, unknown> | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (parsed.msg === msg) return parsed;
  }
  return undefined;
}

/** Every process below `root`, read from /proc. */
function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) parentOf.set(Number(entry), stat.parent);
  }
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    frontier = [...parentOf].filter(([, parent]) => frontier.includes(parent)).map(([pid]) => pid);
    found.push(...frontier);
  }
  return found;
}

/** Running, as opposed to gone or a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

function readStat(pid: number): { state: string; parent: number } | undefined {
  try {
    // The command name may hold spaces and parentheses: the fields start after the last ")".
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, parent] = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: state!, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

function isPortOpen(port: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: Number(port) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
