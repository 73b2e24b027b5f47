// Reads a secret for the CLI (a mailbox password, an SMS account's): from a pipe, typed at a
// terminal without echo, or from a named environment variable. Never from argv, where it would show
// in `ps` and in shell history.

import type { Writable } from "node:stream";
import type { CliContext, PasswordInput } from "./context.js";
import { CliError } from "./usage.js";

const CTRL_C = "\u0003";
const CTRL_D = "\u0004";
const BACKSPACES = ["\u007f", "\b"];

/** The password on standard input: all of a pipe (one trailing newline removed), or a muted prompt. */
export async function readPassword(stdin: PasswordInput, stderr: Writable, prompt: string): Promise<string> {
  const password = stdin.isTTY && stdin.setRawMode ? await promptMuted(stdin, stderr, prompt) : await readAll(stdin);
  if (password.length === 0) throw new CliError("no password given on standard input");
  return password;
}

/** The secret in environment variable `variable` (named by an option) when given, else `readPassword`. */
export async function secretFrom(variable: string | undefined, prompt: string, ctx: CliContext): Promise<string> {
  if (variable === undefined) return readPassword(ctx.io.stdin, ctx.io.stderr, prompt);
  const value = ctx.io.env[variable];
  if (!value) throw new CliError(`environment variable ${variable} is not set or empty`);
  return value;
}

async function readAll(stdin: PasswordInput): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

function promptMuted(stdin: PasswordInput, stderr: Writable, prompt: string): Promise<string> {
  stderr.write(prompt);
  stdin.setRawMode!(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = "";
    const finish = (error?: Error) => {
      stdin.setRawMode!(false);
      stdin.pause();
      stdin.removeListener("data", onData);
      stderr.write("\n");
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer | string) => {
      for (const char of chunk.toString()) {
        if (char === "\r" || char === "\n" || char === CTRL_D) return finish();
        if (char === CTRL_C) return finish(new CliError("cancelled"));
        if (BACKSPACES.includes(char)) typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on("data", onData);
  });
}
