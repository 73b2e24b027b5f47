import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { companies } from "../../lib/db/schema.js";
import { isSchemaCurrent, migrateDb } from "../../lib/db/migrate.js";
import { DRIVERS, useDatabase } from "../support/databases.js";

describe.each(DRIVERS)("database through %s", (driver) => {
  const database = useDatabase(driver, { scope: "test" });

  it("is migrated to the latest schema, and migrating again changes nothing", async () => {
    expect(await isSchemaCurrent(database.db)).toBe(true);
    await migrateDb(database.db);
    expect(await isSchemaCurrent(database.db)).toBe(true);
  });

  it("rolls back a failed transaction and keeps the connection usable", async () => {
    await expect(
      database.db.transaction(async (tx) => {
        await tx.insert(companies).values({ name: "Rolled back" });
        await tx.execute(sql`select 1/0`);
      }),
    ).rejects.toThrow();
    await database.db.insert(companies).values({ name: "Kept" });
    const names = (await database.db.select().from(companies)).map((c) => c.name);
    expect(names).toEqual(["Kept"]);
  });
});
