// Runs the real `lokario-cron` command (bin/lokario-cron.js) as a child process, the way a shell or
// `npx` starts it (the file itself, through its shebang), from a directory other than the
// repository, with exactly the environment given.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The command's file, as npm links it. */
export const CLI_BIN = fileURLToPath(new URL("../../bin/lokario-cron.js", import.meta.url));
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
  const child = spawn(CLI_BIN, args, {
    cwd,
    env: { PATH: cliPath(), HOME: process.env.HOME, ...env },
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

/** PATH with this test run's Node first: the command's shebang starts whichever `node` PATH finds. */
export function cliPath(): string {
  return `${dirname(process.execPath)}:${process.env.PATH ?? ""}`;
}
