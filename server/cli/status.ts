// `lokario-cron status`: the same read-out as GET /api/cron/status — each job's last runs (a run
// killed without recording its end shows as `abandoned` once its lease has passed), whether its
// schedule is alive (runs started by hand do not count), the failing mailboxes, since when and the
// command that fixes each, and why follow-ups wait.

import { JOBS } from "../../lib/app/job-registry.js";
import { readCronStatus } from "../../lib/ops/cron-status.js";
import { isScheduledTrigger } from "../../lib/jobs/run-job.js";
import { countOf } from "./count-words.js";
import { type CliContext, parseCommand } from "./context.js";

export async function statusCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, {});
  const status = await ctx.withDatabase("status", ({ db }) =>
    readCronStatus(db, { config: ctx.config, log: ctx.logger("cli:status"), now: () => new Date() }, JOBS),
  );
  const lines: string[] = [];
  for (const [job, s] of Object.entries(status.jobs)) {
    lines.push(`${job}: last success ${s.lastSuccessAt?.toISOString() ?? "never"}; last scheduled run ${s.lastScheduledRunAt?.toISOString() ?? "never"}`);
    if (s.isOverdue) {
      lines.push(s.lastScheduledRunAt
        ? `  WARNING: no scheduled run since ${s.lastScheduledRunAt.toISOString()} although one was expected at ${s.nextExpectedAt?.toISOString() ?? "?"}: ` +
          "the cron seems stopped (runs started by hand do not count). Check what pings it, or that npm start runs its scheduler."
        : "  WARNING: no scheduled run ever: the cron is not set up (runs started by hand do not count).");
    }
    for (const run of s.lastRuns) {
      const by = isScheduledTrigger(run.trigger) ? run.trigger : `${run.trigger}, by hand`;
      lines.push(`  ${run.startedAt.toISOString()}  ${by.padEnd(13)} ${run.status}${run.error ? `: ${run.error}` : ""}`);
    }
  }
  lines.push(status.failingIntegrations.length === 0 ? "No failing mailbox." : "Failing mailboxes:");
  for (const i of status.failingIntegrations) {
    lines.push(`  #${i.id} ${i.emailAddress ?? i.name ?? "?"} (company ${i.companyId}) ${i.state}` +
      `${i.failingSince ? ` since ${i.failingSince.toISOString()}` : ""}, ${countOf(i.consecutiveFailures, "failure")} in a row: ${i.lastSyncError ?? "unknown error"}` +
      (i.fixCommands.length ? `\n    fix: ${i.fixCommands.join(", then ")}` : ""));
  }
  const f = status.followups;
  lines.push(`Follow-ups: ${f.wouldSendNow} would be sent now; ${countOf(f.uncertainSends, "uncertain send")} to check`);
  for (const [reason, count] of Object.entries(f.waitingByReason)) lines.push(`  waiting (${reason}): ${count}`);
  for (const [reason, count] of Object.entries(f.wouldCloseByReason)) lines.push(`  to close (${reason}): ${count}`);
  ctx.print(values.json, status, lines.join("\n"));
  return 0;
}
