// `lokario-cron inbox reset-folder ID [--folder INBOX]`: lets a folder stopped after repeated
// UIDVALIDITY changes sync again. The rule is in lib/inbox/reset-folder.ts.

import { resetFolder } from "../../lib/inbox/reset-folder.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { countOf } from "./count-words.js";

export async function resetFolderCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, { folder: { type: "string" } }, ["INTEGRATION_ID"]);
  const integrationId = parseId(positionals[0], "INTEGRATION_ID");
  const folder = values.folder ?? "INBOX";
  const reset = await ctx.withDatabase("inbox reset-folder", ({ db }) => resetFolder(db, integrationId, folder, new Date()));
  ctx.print(values.json, { integrationId, folder, ...reset },
    `${folder} of integration #${integrationId} reset (${countOf(reset.previousChanges, "UIDVALIDITY change")} in a row forgotten` +
      `${reset.isErrorCleared ? ", its error cleared" : ""}): the next sync imports the recent window again.`);
  return 0;
}
