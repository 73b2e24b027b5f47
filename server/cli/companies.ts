// `lokario-cron companies add NAME`: creates a company (handy before adding its mailbox).

import { companies } from "../../lib/db/schema.js";
import { type CliContext, parseCommand } from "./context.js";
import { UsageError } from "./usage.js";

export async function addCompanyCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, {}, ["NAME"]);
  const name = positionals[0]!.trim();
  if (!name) throw new UsageError("the company name is empty");
  await ctx.withDatabase("companies add", async ({ db }) => {
    const [company] = await db.insert(companies).values({ name }).returning({ id: companies.id });
    // Human output is the bare id, so that `ID=$(lokario-cron companies add "…")` works.
    ctx.print(values.json, { id: company!.id, name }, String(company!.id));
  });
  return 0;
}
