// The health check: is the database reachable, is its schema current, which version runs, and whether
// the process started with its malloc arenas capped (`malloc-arenas.ts`). Needs no secret, so it says
// nothing private (no URL, no counts, no error text beyond a category).

import { sql } from "drizzle-orm";
import type { Config } from "../config.js";
import { openDb } from "../db/client.js";
import { isSchemaCurrent } from "../db/migrate.js";
import { mallocArenaMaxAtStart } from "./malloc-arenas.js";
import packageJson from "../../package.json" with { type: "json" };

export interface HealthReport {
  status: "ok" | "degraded";
  database: "reachable" | "unreachable";
  migrations: "current" | "pending" | "unknown";
  version: string;
  /** MALLOC_ARENA_MAX as the process started with it; null: glibc's default (8 arenas per core). */
  mallocArenaMax: number | null;
}

/** Checks the database of `config`; never throws. */
export async function checkHealth(config: Config): Promise<HealthReport> {
  let database: HealthReport["database"] = "unreachable";
  let migrations: HealthReport["migrations"] = "unknown";
  try {
    const open = await openDb(config.database);
    try {
      await open.db.execute(sql`select 1`);
      database = "reachable";
      migrations = (await isSchemaCurrent(open.db)) ? "current" : "pending";
    } finally {
      await open.close();
    }
  } catch {
    // Reported as "unreachable"; the cause is in the database's own logs, not in a public answer.
  }
  const status = database === "reachable" && migrations === "current" ? "ok" : "degraded";
  return { status, database, migrations, version: packageJson.version, mallocArenaMax: mallocArenaMaxAtStart() };
}
