// `lokario-cron sync` and `lokario-cron followups run`: one run of a job, printing the same JSON
// as its endpoint. Exit code 1 when a mailbox or a follow-up failed, so scripts notice.

import { processAutomaticJob } from "../../lib/followups/process-automatic.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { type Job, type JobSummary, runJob } from "../../lib/jobs/run-job.js";
import { type CliContext, parseCommand, parseId } from "./context.js";

export async function syncCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { integration: { type: "string" } });
  const integrationId = values.integration === undefined ? undefined : parseId(values.integration, "--integration");
  const summary = await runOnce(ctx, "sync", syncAllJob, integrationId === undefined ? {} : { integrationId });
  return summary.integrations.failed > 0 ? 1 : 0;
}

export async function followupsRunCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { "dry-run": { type: "boolean" } });
  const summary = await runOnce(ctx, "followups run", processAutomaticJob, { isDryRun: values["dry-run"] ?? false });
  return summary.failed > 0 ? 1 : 0;
}

async function runOnce<P, S extends JobSummary>(ctx: CliContext, command: string, job: Job<P, S>, params: P): Promise<S> {
  return ctx.withDatabase(command, async ({ db }) => {
    const log = ctx.logger(`cli:${job.name}`);
    const summary = await runJob(job, params, { config: ctx.config, log, trigger: "cli", db });
    const answer = { success: true, message: job.successMessage, timestamp: new Date().toISOString(), ...summary };
    ctx.io.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return summary;
  });
}
