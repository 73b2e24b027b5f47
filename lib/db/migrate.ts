// Applies the SQL migrations in drizzle/ (npm start, the CLI's `migrate`, test setup; never a cron
// request). A Postgres advisory lock keeps two processes from migrating at once.

import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import journal from "../../drizzle/meta/_journal.json" with { type: "json" };
import { type Db, type DbOrTx, rowsOf } from "./client.js";

/** The folder of reviewed SQL migrations, next to the package root. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../drizzle", import.meta.url));

/** Arbitrary constant naming this product's migration lock. */
const MIGRATION_LOCK_KEY = 7_340_021;

/** Brings the database up to the latest migration. Safe to call concurrently and repeatedly. */
export async function migrateDb(db: Db): Promise<void> {
  // The lock and the migration share one connection: both run inside one transaction, so a second
  // process waits here and then finds nothing left to apply.
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await applyPending(tx);
  });
}

/** Migrations recorded in drizzle-kit's own table, so `drizzle-kit migrate` sees the same state. */
async function applyPending(db: DbOrTx): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER });
  await db.execute(sql`create schema if not exists drizzle`);
  await db.execute(sql`create table if not exists drizzle.__drizzle_migrations (
    id serial primary key, hash text not null, created_at bigint)`);
  const last = await db.execute(
    sql`select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
  );
  const lastAt = Number(rowsOf<{ created_at: string | number }>(last)[0]?.created_at ?? 0);
  for (const migration of migrations) {
    if (migration.folderMillis <= lastAt) continue;
    for (const statement of migration.sql) {
      if (statement.trim()) await db.execute(sql.raw(statement));
    }
    await db.execute(
      sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`,
    );
  }
}

/**
 * Whether every migration in drizzle/ has been applied (health check). Reads only the journal, as
 * an import, so a serverless bundle carries it without shipping the SQL files.
 */
export async function isSchemaCurrent(db: Db): Promise<boolean> {
  const newest = Math.max(0, ...journal.entries.map((entry) => entry.when));
  try {
    const last = await db.execute(sql`select max(created_at) as created_at from drizzle.__drizzle_migrations`);
    return Number(rowsOf<{ created_at: string | number | null }>(last)[0]?.created_at ?? 0) >= newest;
  } catch {
    return false;
  }
}
