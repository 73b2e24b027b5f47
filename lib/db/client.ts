// Opens the database a job runs on: embedded PGlite (local default), node-postgres, or Neon's
// serverless driver over WebSockets (production on Neon). Every caller gets the same drizzle API.
// Each driver's modules are loaded only when it is opened: a process keeps only the one it uses
// (the three together cost about 15 MB of memory).

import { mkdirSync } from "node:fs";
import type { PGlite } from "@electric-sql/pglite";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import type { Config, DatabaseDriver } from "../config.js";
import * as schema from "./schema.js";

export type Schema = typeof schema;
/** The database handle every job and query takes, whatever the driver. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
/** The handle a `db.transaction` callback receives. */
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** What a query that may run inside a caller's transaction or on its own takes: either handle, no cast. */
export type DbOrTx = Db | Tx;

export interface OpenDb {
  db: Db;
  driver: DatabaseDriver;
  /** Releases the connections (PGlite stays open for the process: see `closeAllDatabases`). */
  close(): Promise<void>;
}

/** Short-lived pools: a cron invocation needs few connections and must not keep them. */
const POOL_MAX_CONNECTIONS = 4;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * One PGlite instance per data directory for the whole process: PGlite is a single-connection,
 * in-process database, and two instances on the same directory would corrupt it.
 */
const pgliteInstances = new Map<string, Promise<PGlite>>();

/** Opens the configured database. The caller must `close()` it in a `finally`. */
export async function openDb(database: Config["database"]): Promise<OpenDb> {
  switch (database.driver) {
    case "pglite": {
      const client = await pgliteFor(database.url);
      const { drizzle: drizzlePglite } = await import("drizzle-orm/pglite");
      return { db: drizzlePglite(client, { schema }) as unknown as Db, driver: "pglite", close: async () => {} };
    }
    case "neon": {
      const [{ Pool: NeonPool, neonConfig }, { drizzle: drizzleNeon }, { default: ws }] = await Promise.all([
        import("@neondatabase/serverless"), import("drizzle-orm/neon-serverless"), import("ws"),
      ]);
      configureNeon(neonConfig, ws, database.neonWebSocketProxy);
      const pool = new NeonPool({
        connectionString: database.url,
        max: POOL_MAX_CONNECTIONS,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      });
      pool.on("error", () => {}); // an idle client dropped by the server: the next query reconnects
      pool.on("connect", ignoreClientErrors);
      return { db: drizzleNeon(pool, { schema }) as unknown as Db, driver: "neon", close: () => pool.end() };
    }
    case "pg": {
      const [{ default: pg }, { drizzle: drizzlePg }] = await Promise.all([import("pg"), import("drizzle-orm/node-postgres")]);
      const pool = new pg.Pool({
        connectionString: database.url,
        max: POOL_MAX_CONNECTIONS,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      });
      pool.on("error", () => {});
      pool.on("connect", ignoreClientErrors);
      return { db: drizzlePg(pool, { schema }) as unknown as Db, driver: "pg", close: () => pool.end() };
    }
  }
}

/**
 * A connection cut while checked out of the pool (the server restarting, a failover, an idle
 * timeout in between) fails its query, which the caller sees and retries, and then also emits
 * `error` on the client. The pool listens only while the client is idle: with no listener of its
 * own, Node would turn that second report into an uncaught exception and end the process. The pool
 * drops such a client when it is released.
 */
function ignoreClientErrors(client: { on(event: "error", listener: () => void): unknown }): void {
  client.on("error", () => {});
}

/** Closes every PGlite instance of the process (server shutdown, end of a CLI command). */
export async function closeAllDatabases(): Promise<void> {
  const instances = [...pgliteInstances.values()];
  pgliteInstances.clear();
  await Promise.all(instances.map(async (p) => (await p).close().catch(() => {})));
}

/**
 * Hands an already open PGlite to `openDb` under `url` (an app or a test that embeds the jobs and
 * holds its own instance).
 */
export function providePglite(url: string, instance: PGlite): void {
  pgliteInstances.set(pgliteLocation(url), Promise.resolve(instance));
}

function pgliteLocation(url: string): string {
  return url.replace(/^(pglite|file):(\/\/)?/, "");
}

function pgliteFor(url: string): Promise<PGlite> {
  const location = pgliteLocation(url);
  const existing = pgliteInstances.get(location);
  if (existing) return existing;
  // "memory" or "memory:<name>": an in-memory database, shared by every opener of the same name.
  const isMemory = location === "" || location === ":memory:" || /^memory(:|$)/.test(location);
  if (!isMemory) mkdirSync(location, { recursive: true });
  const opening = import("@electric-sql/pglite").then(({ PGlite }) => PGlite.create(isMemory ? undefined : location));
  pgliteInstances.set(location, opening);
  opening.catch(() => pgliteInstances.delete(location));
  return opening;
}

/**
 * Neon's driver speaks the Postgres protocol over a WebSocket. Against Neon it needs only a
 * WebSocket implementation (Node 20 has none built in); a local proxy (development, tests) is
 * plain ws:// and cannot take the password-pipelining shortcut.
 */
function configureNeon(
  neonConfig: typeof import("@neondatabase/serverless").neonConfig,
  ws: typeof import("ws").default,
  proxy: string | undefined,
): void {
  neonConfig.webSocketConstructor = ws;
  if (proxy) {
    neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineConnect = false;
    neonConfig.pipelineTLS = false;
  }
}

/** The rows of a raw `db.execute()` result: every supported driver returns them under `rows`. */
export function rowsOf<T>(result: unknown): T[] {
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
