// `lokario-cron status`: the same read-out as GET /api/cron/status — each job's last runs (a run
// killed without recording its end shows as `abandoned` once its lease has passed), the failing
// mailboxes and since when, and why follow-ups wait.

import { readCronStatus } from "../../lib/ops/cron-status.js";
import { type CliContext, parseCommand } from "./context.js";

export async function statusCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, {});
  const status = await ctx.withDatabase("status", ({ db }) =>
    readCronStatus(db, { config: ctx.config, log: ctx.logger("cli:status"), now: () => new Date() }),
  );
  const lines: string[] = [];
  for (const [job, { lastRuns, lastSuccessAt }] of Object.entries(status.jobs)) {
    lines.push(`${job}: last success ${lastSuccessAt?.toISOString() ?? "never"}`);
    for (const run of lastRuns) {
      lines.push(`  ${run.startedAt.toISOString()}  ${run.trigger.padEnd(8)} ${run.status}${run.error ? `: ${run.error}` : ""}`);
    }
  }
  lines.push(status.failingIntegrations.length === 0 ? "No failing mailbox." : "Failing mailboxes:");
  for (const i of status.failingIntegrations) {
    lines.push(`  #${i.id} ${i.emailAddress ?? i.name ?? "?"} (company ${i.companyId}) failing since ${i.failingSince?.toISOString() ?? "?"}, ` +
      `${i.consecutiveFailures} in a row: ${i.lastSyncError ?? "unknown error"}` +
      (i.needsReconnectionSince ? ` [needs reconnection since ${i.needsReconnectionSince.toISOString()}: lokario-cron integrations connect]` : ""));
  }
  const f = status.followups;
  lines.push(`Follow-ups: ${f.wouldSendNow} would be sent now; ${f.uncertainSends} uncertain send(s) to check`);
  for (const [reason, count] of Object.entries(f.waitingByReason)) lines.push(`  waiting (${reason}): ${count}`);
  for (const [reason, count] of Object.entries(f.wouldCloseByReason)) lines.push(`  to close (${reason}): ${count}`);
  ctx.print(values.json, status, lines.join("\n"));
  return 0;
}
