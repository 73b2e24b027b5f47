// `lokario-cron inbox quarantine` and `inbox reimport ID`: the messages the sync set aside, and
// importing one again. The rules are in lib/inbox/reimport-quarantined.ts.

import { listQuarantine, reimportQuarantined } from "../../lib/inbox/reimport-quarantined.js";
import { attachmentStorageFor } from "../../lib/storage/attachment-storage.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { countOf } from "./count-words.js";

export async function listQuarantineCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { integration: { type: "string" } });
  const integrationId = values.integration === undefined ? undefined : parseId(values.integration, "--integration");
  const entries = await ctx.withDatabase("inbox quarantine", ({ db }) => listQuarantine(db, integrationId));
  const human = entries.length === 0
    ? "No set-aside message."
    : entries
        .map((e) => `#${e.id}  integration ${e.integrationId}  ${e.folder} uid ${e.uid} (uidvalidity ${e.uidValidity})  ` +
          `${e.sizeBytes ?? "?"} bytes  ${e.isRawStored ? "raw stored" : "raw not stored"}  ${countOf(e.attempts, "attempt")}\n    ${e.reason}`)
        .join("\n");
  ctx.print(values.json, entries, human);
  return 0;
}

export async function reimportCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, {}, ["QUARANTINE_ID"]);
  const quarantineId = parseId(positionals[0], "QUARANTINE_ID");
  const outcome = await ctx.withDatabase("inbox reimport", ({ db }) =>
    reimportQuarantined(db, quarantineId, {
      // The configured store (a directory, or the database on platforms without a lasting disk) kept the raw bytes.
      storage: attachmentStorageFor(ctx.config, db),
      maxAttachmentBytes: ctx.config.maxAttachmentBytes,
      now: new Date(),
      log: ctx.logger("cli:inbox-reimport"),
    }),
  );
  if (outcome.status === "failed") {
    ctx.print(values.json, { quarantineId, ...outcome }, `Set-aside message #${quarantineId} still not importable (attempt ${outcome.attempts}): ${outcome.reason}`);
    return 1;
  }
  const human = outcome.store.status === "stored"
    ? `Set-aside message #${quarantineId} imported as message #${outcome.store.messageId} (conversation #${outcome.store.conversationId}).`
    : `Set-aside message #${quarantineId} was already stored; removed from the set-aside list.`;
  ctx.print(values.json, { quarantineId, ...outcome }, human);
  return 0;
}
