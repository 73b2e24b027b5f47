// `lokario-cron integrations remove ID`: says what the mailbox imported and asks whether that mail
// stays (detached) or goes. Without a terminal to ask on, one of --keep-mail / --delete-mail is required.

import { createInterface } from "node:readline/promises";
import { attachmentStorageFor } from "../../lib/storage/attachment-storage.js";
import { countImportedMail, type ImportedMail, removeIntegration } from "../../lib/inbox/remove-integration.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { countOf } from "./count-words.js";
import { CliError, UsageError } from "./usage.js";

export async function removeIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, { "keep-mail": { type: "boolean" }, "delete-mail": { type: "boolean" } }, ["ID"]);
  const id = parseId(positionals[0], "ID");
  if (values["keep-mail"] && values["delete-mail"]) throw new UsageError("--keep-mail and --delete-mail cannot be used together");

  return ctx.withDatabase("integrations remove", async ({ db }) => {
    const imported = await countImportedMail(db, id);
    let shouldDeleteMail = values["delete-mail"] ?? (values["keep-mail"] ? false : undefined);
    if (shouldDeleteMail === undefined) {
      if (!ctx.io.stdin.isTTY) {
        throw new CliError(
          `integration ${id} imported ${describeMail(imported)}: say what happens to that mail with ` +
            `--keep-mail (it stays in the inbox, detached from any mailbox) or --delete-mail (it is deleted)`,
        );
      }
      shouldDeleteMail = await ask(ctx, imported);
      if (shouldDeleteMail === undefined) {
        ctx.io.stderr.write("Cancelled: nothing was removed.\n");
        return 1;
      }
    }
    const removed = await removeIntegration(db, id, { shouldDeleteMail, storage: attachmentStorageFor(ctx.config, db) });
    const mail = removed.isMailDeleted
      ? `${describeMail(removed)} deleted`
      : `${describeMail(removed)} kept in the company's inbox, detached from any mailbox`;
    const leftovers = removed.filesNotRemoved > 0 ? `\nWarning: ${countOf(removed.filesNotRemoved, "stored file")} could not be deleted.` : "";
    ctx.print(values.json, removed, `Integration ${id} (${removed.emailAddress ?? "?"}) removed; ${mail}.${leftovers}`);
    return 0;
  });
}

function describeMail(mail: ImportedMail): string {
  return `${countOf(mail.conversations, "conversation")}, ${countOf(mail.messages, "message")} and ${countOf(mail.attachments, "attachment")}`;
}

/** true to delete, false to keep, undefined to cancel. */
async function ask(ctx: CliContext, imported: ImportedMail): Promise<boolean | undefined> {
  const prompt = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr });
  try {
    const answer = await prompt.question(
      `Integration ${imported.id} (${imported.emailAddress ?? "?"}) imported ${describeMail(imported)}.\n` +
        "Keep that mail in the inbox (k), delete it (d), or cancel (anything else)? ",
    );
    const choice = answer.trim().toLowerCase();
    return choice === "k" ? false : choice === "d" ? true : undefined;
  } finally {
    prompt.close();
  }
}
