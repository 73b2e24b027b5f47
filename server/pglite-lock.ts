// Keeps two processes off the same PGlite directory. PGlite is an in-process, single-connection
// database with no lock of its own: a second process opening the same directory (the CLI while
// `npm start` runs, say) would silently corrupt it. A lock file beside the directory names the owner.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Config } from "../lib/config.js";

/** Another live process already holds the PGlite directory. */
export class PgliteInUseError extends Error {
  constructor(directory: string, owner: LockOwner) {
    super(
      `the PGlite database in ${directory} is in use by process ${owner.pid} (${owner.command}): ` +
        "PGlite allows one process at a time. Stop that process first, or set DATABASE_URL to a PostgreSQL server " +
        "to use the server and the CLI together.",
    );
    this.name = "PgliteInUseError";
  }
}

interface LockOwner {
  pid: number;
  command: string;
  since: string;
}

export interface PgliteLock {
  /** Removes the lock file (only if this process still owns it). */
  release(): void;
}

/**
 * Takes the lock of the configured PGlite directory for `command`. Returns a no-op lock for other
 * drivers and in-memory PGlite; throws PgliteInUseError when a live process holds it.
 */
export function lockPgliteDirectory(database: Config["database"], command: string): PgliteLock {
  const directory = pgliteDirectory(database);
  if (!directory) return { release: () => {} };
  const lockPath = `${directory}.lock`;
  mkdirSync(dirname(lockPath), { recursive: true });
  const owner: LockOwner = { pid: process.pid, command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, JSON.stringify(owner), { flag: "wx" });
      return { release: () => releaseIfOwned(lockPath) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const current = readOwner(lockPath);
      if (current && current.pid !== process.pid && isAlive(current.pid)) throw new PgliteInUseError(directory, current);
      // Left behind by a process that died (or unreadable): take it over.
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${lockPath}`);
}

/** The on-disk directory of a PGlite database, or undefined (another driver, or in memory). */
function pgliteDirectory(database: Config["database"]): string | undefined {
  if (database.driver !== "pglite") return undefined;
  const location = database.url.replace(/^(pglite|file):(\/\/)?/, "");
  if (location === "" || location === ":memory:" || /^memory(:|$)/.test(location)) return undefined;
  return resolve(location);
}

function readOwner(lockPath: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(lockPath, "utf8")) as Partial<LockOwner>;
    return typeof parsed.pid === "number" ? { pid: parsed.pid, command: String(parsed.command), since: String(parsed.since) } : undefined;
  } catch {
    return undefined;
  }
}

function releaseIfOwned(lockPath: string): void {
  if (readOwner(lockPath)?.pid === process.pid) rmSync(lockPath, { force: true });
}

/** Signal 0 checks that a process exists without touching it (EPERM: it exists, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
