// `lokario-cron migrate`: brings the configured database to the latest schema.

import { isSchemaCurrent, migrateDb } from "../../lib/db/migrate.js";
import { type CliContext, parseCommand } from "./context.js";

export async function migrateCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, {});
  await ctx.withDatabase(
    "migrate",
    async ({ db, driver }) => {
      const wasCurrent = await isSchemaCurrent(db);
      await migrateDb(db);
      ctx.print(values.json, { success: true, driver, applied: !wasCurrent },
        wasCurrent ? `Database already up to date (${driver}).` : `Database migrated (${driver}).`);
    },
    true,
  );
  return 0;
}
