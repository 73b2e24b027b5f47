// Runs the real `lokario-cron` command (bin/lokario-cron.js) as a child process, from a directory
// other than the repository, with exactly the environment given.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/lokario-cron.js", import.meta.url));
const CLI_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `lokario-cron ...args` with `env` (plus PATH and HOME), `input` on stdin, in a fresh directory. */
export function runCli(args: string[], env: Record<string, string | undefined>, input = ""): Promise<CliResult> {
  return startCli(args, env, input).result;
}

/** The same, returning the child process too, so a test can kill it mid-run. */
export function startCli(args: string[], env: Record<string, string | undefined>, input = ""): { child: ChildProcess; result: Promise<CliResult> } {
  const cwd = mkdtempSync(join(tmpdir(), "lokario-cli-"));
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["pipe", "pipe", "pipe"],
    timeout: CLI_TIMEOUT_MS,
  });
  const result = new Promise<CliResult>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  child.stdin!.end(input);
  return { child, result };
}
