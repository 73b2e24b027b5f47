// How each driver reports a database failure, read by the rule that decides between "retry, then
// stop before the item" and "the item is at fault". The errors are real: raised by the server with a
// chosen SQLSTATE, or a session really cut by the server.

import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { type Db, rowsOf } from "../../lib/db/client.js";
import { retryTransient } from "../../lib/db/retry-transient.js";
import { companies } from "../../lib/db/schema.js";
import { dbFailureOf, isDataDbError, isTransientDbError } from "../../lib/db/transient-error.js";
import { DRIVERS, useDatabase } from "../support/databases.js";

const noWait = { sleep: async () => {} };

describe.each(DRIVERS)("database failures through %s", (driver) => {
  const database = useDatabase(driver, { scope: "test" });

  it.each(["40P01", "40001", "55P03", "57P01", "53300", "08006"])("calls SQLSTATE %s transient", async (code) => {
    const err = await failureOf(database.db, code);
    expect(isTransientDbError(err)).toBe(true);
    expect(dbFailureOf(err, "testing")).toMatchObject({ kind: "transient", message: expect.stringContaining(`(${code})`) });
  });

  it.each(["22001", "22021", "23505"])("blames the data, not the database, for SQLSTATE %s", async (code) => {
    const err = await failureOf(database.db, code);
    expect(isTransientDbError(err)).toBe(false);
    expect(isDataDbError(err)).toBe(true);
    expect(dbFailureOf(err, "testing")).toBeNull();
  });

  it("blames the data when a refused value reads like a connection failure (a message about a terminated connection)", async () => {
    const err = await database.db
      .execute(sql`select ${"Connection terminated unexpectedly, websocket closed"}::varchar(5)::int`)
      .catch((e: unknown) => e);
    expect(isTransientDbError(err)).toBe(false);
    expect(dbFailureOf(err, "testing")).toBeNull();
  });

  it("calls a missing table a broken database, neither transient nor the data's fault", async () => {
    const err = await database.db.execute(sql`select * from no_such_table`).catch((e: unknown) => e);
    expect(dbFailureOf(err, "testing")).toMatchObject({ kind: "permanent", message: expect.stringContaining("42P01") });
  });

  it("runs a transaction again after a deadlock, and keeps only the attempt that committed", async () => {
    let attempts = 0;
    const id = await retryTransient(
      () =>
        database.db.transaction(async (tx) => {
          const [row] = await tx.insert(companies).values({ name: `Attempt ${++attempts}` }).returning();
          if (attempts === 1) await tx.execute(sql.raw(raising("40P01")));
          return row!.id;
        }),
      noWait,
    );
    expect(attempts).toBe(2);
    expect((await database.db.select().from(companies)).map((c) => [c.id, c.name])).toEqual([[id, "Attempt 2"]]);
  });

  it("gives up after its attempts and throws the database's error", async () => {
    let attempts = 0;
    const failing = retryTransient(() => {
      attempts++;
      return database.db.execute(sql.raw(raising("40001")));
    }, { ...noWait, attempts: 3 });
    await expect(failing).rejects.toSatisfy(isTransientDbError);
    expect(attempts).toBe(3);
  });
});

describe.each(DRIVERS.filter((d) => d !== "pglite"))("a session cut by the server, through %s", (driver) => {
  const database = useDatabase(driver, { scope: "test" });

  it("is transient, and the next attempt gets a new connection", async () => {
    let attempts = 0;
    const result = await retryTransient(
      () =>
        database.db.transaction(async (tx) => {
          if (++attempts === 1) await tx.execute(sql`select pg_terminate_backend(pg_backend_pid())`);
          return rowsOf<{ one: number }>(await tx.execute(sql`select 1 as one`))[0]!.one;
        }),
      noWait,
    );
    expect(attempts).toBe(2);
    expect(result).toBe(1);
  });
});

/** The error the server raises for `code`, as the driver and drizzle hand it over. */
async function failureOf(db: Db, code: string): Promise<unknown> {
  const err = await db.execute(sql.raw(raising(code))).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err;
}

function raising(code: string): string {
  return `do $$ begin raise exception 'raised for a test' using errcode = '${code}'; end $$`;
}
