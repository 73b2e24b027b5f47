// What every CLI command is given: its streams and environment, the config, a database opened
// under the PGlite lock, and one way to print a result (human text or --json).

import { parseArgs, type ParseArgsConfig } from "node:util";
import type { Writable } from "node:stream";
import { sql } from "drizzle-orm";
import { type Config, loadConfig } from "../../lib/config.js";
import { closeAllDatabases, type Db, openDb } from "../../lib/db/client.js";
import { isSchemaCurrent } from "../../lib/db/migrate.js";
import { DatabaseUnavailableError } from "../../lib/errors.js";
import { createLogger, type Logger } from "../../lib/log.js";
import { lockPgliteDirectory } from "../pglite-lock.js";
import { CliError, UsageError } from "./usage.js";

/** The standard input the CLI reads a password from (a pipe, or a terminal it can mute). */
export interface PasswordInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface CliIo {
  env: Record<string, string | undefined>;
  stdin: PasswordInput;
  stdout: Writable;
  stderr: Writable;
}

export interface CliDatabase {
  db: Db;
  driver: Config["database"]["driver"];
}

export class CliContext {
  readonly io: CliIo;
  private loadedConfig: Config | undefined;

  constructor(io: CliIo) {
    this.io = io;
  }

  get config(): Config {
    this.loadedConfig ??= loadConfig(this.io.env);
    return this.loadedConfig;
  }

  /** Structured logs go to stderr, so stdout carries only the command's result. */
  logger(scope: string): Logger {
    return createLogger(scope, {
      level: this.config.logLevel,
      sink: (line) => this.io.stderr.write(`${line}\n`),
    });
  }

  /**
   * Runs `work` on the configured database and closes it afterwards. Unless `allowUnmigrated`,
   * refuses a database that is not migrated, with the command that fixes it.
   */
  async withDatabase<T>(command: string, work: (database: CliDatabase) => Promise<T>, allowUnmigrated = false): Promise<T> {
    const settings = this.config.database;
    const lock = lockPgliteDirectory(settings, `lokario-cron ${command}`);
    try {
      const opened = await openDb(settings).catch((err: unknown) => {
        throw new DatabaseUnavailableError(err);
      });
      try {
        await opened.db.execute(sql`select 1`).catch((err: unknown) => {
          throw new DatabaseUnavailableError(err);
        });
        if (!allowUnmigrated && !(await isSchemaCurrent(opened.db))) {
          throw new CliError("the database is not migrated: run `lokario-cron migrate` first");
        }
        return await work({ db: opened.db, driver: opened.driver });
      } finally {
        await opened.close();
      }
    } finally {
      await closeAllDatabases();
      lock.release();
    }
  }

  /** Prints a command's result: `value` as JSON with --json, else the human text. */
  print(isJson: boolean | undefined, value: unknown, human: string): void {
    this.io.stdout.write(isJson ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
  }
}

/** parseArgs with the CLI's rules: unknown options and wrong arity are usage errors. */
export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: O,
  positionalNames: string[] = [],
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, json: { type: "boolean" } }, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs appends advice about "--" to its first sentence: the first sentence is the point.
    throw new UsageError(err instanceof Error ? err.message.split(/\.\s|\n/)[0]! : String(err));
  }
  if (parsed.positionals.length !== positionalNames.length) {
    const expected = positionalNames.length ? positionalNames.join(" ") : "no argument";
    throw new UsageError(`expected ${expected}, got ${parsed.positionals.length ? parsed.positionals.join(" ") : "nothing"}`);
  }
  return parsed;
}

/** A positive integer option or argument, or a usage error naming it. */
export function parseId(text: string | undefined, name: string, { min = 1, max = 2_147_483_647 } = {}): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}${text === undefined ? " (missing)" : `, got "${text}"`}`);
  }
  return Number(text);
}
