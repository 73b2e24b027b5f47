// `lokario-cron followups uncertain` and `followups resolve ID --sent|--not-sent`: the operator's side
// of an uncertain send. The rules are in lib/followups/resolve-uncertain.ts.

import { listUncertainAttempts, resolveUncertainAsNotSent, resolveUncertainAsSent } from "../../lib/followups/resolve-uncertain.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { UsageError } from "./usage.js";

export async function listUncertainCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, {});
  const attempts = await ctx.withDatabase("followups uncertain", ({ db }) => listUncertainAttempts(db));
  const human = attempts.length === 0
    ? "No uncertain send."
    : attempts
        .map((a) => `#${a.id}  follow-up ${a.followupId} step ${a.step}  to ${a.recipient}  started ${a.startedAt.toISOString()}\n` +
          `    subject: ${a.subject}\n    Message-ID: ${a.messageId}`)
        .join("\n") +
      "\nLook each Message-ID up in the SMTP log or the Sent folder, then: lokario-cron followups resolve ID --sent|--not-sent";
  ctx.print(values.json, attempts, human);
  return 0;
}

export async function resolveUncertainCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, { sent: { type: "boolean" }, "not-sent": { type: "boolean" } }, ["ATTEMPT_ID"]);
  const attemptId = parseId(positionals[0], "ATTEMPT_ID");
  if (Boolean(values.sent) === Boolean(values["not-sent"])) throw new UsageError("give exactly one of --sent or --not-sent");
  if (values.sent) {
    const { historyId, attempt } = await ctx.withDatabase("followups resolve", ({ db }) =>
      resolveUncertainAsSent(db, attemptId, { config: ctx.config, log: ctx.logger("cli:followups-resolve") }),
    );
    ctx.print(values.json, { attemptId, resolution: "sent", historyId, messageId: attempt.messageId },
      `Attempt #${attemptId} recorded as sent (history #${historyId}, Message-ID ${attempt.messageId}).`);
  } else {
    const attempt = await ctx.withDatabase("followups resolve", ({ db }) => resolveUncertainAsNotSent(db, attemptId));
    ctx.print(values.json, { attemptId, resolution: "not_sent", followupId: attempt.followupId, step: attempt.step },
      `Attempt #${attemptId} deleted: the next run sends step ${attempt.step} of follow-up ${attempt.followupId} with a new Message-ID.`);
  }
  return 0;
}
