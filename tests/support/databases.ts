// A fresh, migrated database for a test, through each driver the product supports. PostgreSQL and
// Neon databases are cloned from the migrated template; PGlite ones are loaded from a migrated snapshot.
// `useDatabase` is how a test file gets one.

import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import type { Config, DatabaseDriver } from "../../lib/config.js";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/pglite";
import { closeAllDatabases, type Db, openDb, providePglite } from "../../lib/db/client.js";
import * as schema from "../../lib/db/schema.js";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { migrateDb } from "../../lib/db/migrate.js";
import { type FixtureScope, useFixture } from "./fixture.js";

/** Every driver, so a `describe.each(DRIVERS)` runs a suite on each. */
export const DRIVERS: DatabaseDriver[] = ["pglite", "pg", "neon"];

export interface TestDatabase {
  driver: DatabaseDriver;
  /** The `database` part of a Config that reaches this database. */
  settings: Config["database"];
  /** An open handle for arranging and asserting (the jobs open their own). */
  db: Db;
  /** The environment variables that select this database (for endpoint and CLI tests). */
  env: Record<string, string>;
  drop(): Promise<void>;
}

const TEMPLATE_DATABASE = "lokario_template";

/**
 * The database of the tests of a `describe` (call it there, or at the top of a file, before the
 * hooks that use it): a fresh, migrated one reached through `driver`, made before the tests (or
 * before each with `scope: "test"`) and dropped after them.
 */
export function useDatabase(driver: DatabaseDriver, options: DatabaseFixtureOptions = {}): TestDatabase {
  const reset = options.afterEach;
  return useFixture(`the ${driver} test database`, {
    scope: options.scope,
    start: () => createTestDatabase(driver),
    close: (database) => database.drop(),
    afterEach: reset && ((database) => reset(database.db)),
  });
}

export interface DatabaseFixtureOptions {
  /** "describe" (the default): one database for the tests of the describe; "test": a fresh one per test. */
  scope?: FixtureScope;
  /** Puts the shared database back in shape after each test (e.g. `deactivateIntegrations`). */
  afterEach?(db: Db): Promise<unknown>;
}

/**
 * Deactivates every integration: a sync run claims every due integration of its database, so tests
 * sharing one database that each sync only their own mailboxes call this after each test.
 */
export function deactivateIntegrations(db: Db): Promise<unknown> {
  return db.update(inboxIntegrations).set({ isActive: false });
}

/** Creates an empty, migrated database reached through `driver` (for a test that needs a second, throw-away one). */
export async function createTestDatabase(driver: DatabaseDriver): Promise<TestDatabase> {
  if (driver === "pglite") {
    // In memory, loaded from a migrated snapshot: same engine as on disk, without the seconds that
    // initialising and migrating a fresh PGlite costs each time (measured: ~3.5 s vs ~1.3 s).
    const settings = { url: `pglite:memory:${randomBytes(6).toString("hex")}`, driver } as const;
    providePglite(settings.url, await PGlite.create({ loadDataDir: await pgliteSnapshot() }));
    const open = await openDb(settings);
    return {
      driver, settings, db: open.db, env: { DATABASE_URL: settings.url },
      drop: async () => {
        await closeAllDatabases();
      },
    };
  }
  const port = inject("postgresPort");
  const name = `t_${randomBytes(6).toString("hex")}`;
  await adminQuery(port, `create database ${name} template ${TEMPLATE_DATABASE}`);
  const url = `postgres://postgres@127.0.0.1:${port}/${name}`;
  const settings: Config["database"] =
    driver === "neon" ? { url, driver, neonWebSocketProxy: inject("neonWsProxy") } : { url, driver };
  const open = await openDb(settings);
  const env: Record<string, string> = { DATABASE_URL: url, DATABASE_DRIVER: driver };
  if (settings.neonWebSocketProxy) env.NEON_WEBSOCKET_PROXY = settings.neonWebSocketProxy;
  return {
    driver, settings, db: open.db, env,
    drop: async () => {
      await open.close();
      await adminQuery(port, `drop database if exists ${name} with (force)`);
    },
  };
}

let snapshot: Promise<File | Blob> | undefined;

/** A migrated PGlite data directory, made once per test worker. */
function pgliteSnapshot(): Promise<File | Blob> {
  snapshot ??= (async () => {
    const instance = await PGlite.create();
    await migrateDb(drizzle(instance, { schema }) as unknown as Db);
    const dump = await instance.dumpDataDir("none");
    await instance.close();
    return dump;
  })();
  return snapshot;
}

async function adminQuery(port: number, text: string): Promise<void> {
  // The template must have no other session while it is cloned: retry briefly if one lingers.
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    try {
      await client.query(text);
      return;
    } catch (err) {
      if (attempt >= 20 || !String(err).includes("is being accessed by other users")) throw err;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.end();
    }
  }
}

/**
 * Makes the database refuse the rows of any message from `fromEmail` (class 23, a check violation:
 * the data's fault), standing for any value it rejects in one message's rows. Returns the undoing.
 */
export async function refuseMessagesFrom(db: Db, fromEmail: string): Promise<() => Promise<void>> {
  const name = `refuse_mail_${randomBytes(4).toString("hex")}`;
  await db.execute(sql.raw(`
    create function ${name}() returns trigger language plpgsql as $$
    begin
      if new.from_email = '${fromEmail.replace(/'/g, "''")}' then raise exception 'refused by a check' using errcode = 'check_violation'; end if;
      return new;
    end $$;
    create trigger ${name} before insert on inbox_messages for each row execute function ${name}();
  `));
  return async () => {
    await db.execute(sql.raw(`drop trigger ${name} on inbox_messages; drop function ${name}()`));
  };
}
