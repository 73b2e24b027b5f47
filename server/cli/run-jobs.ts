// `lokario-cron sync`, `lokario-cron followups run` and `lokario-cron jobs run NAME` (any job of the
// registry): a run of a job, printing the same JSON as its endpoint. `sync --until-done` keeps running until nothing is left (a first import of a large
// mailbox spans many runs), with a progress line on stderr after each run. Exit code 1 when a
// mailbox or a follow-up failed, so scripts notice.

import type { SyncSummary } from "../../lib/inbox/sync-all.js";
import { FOLLOWUPS, INBOX_SYNC, JOBS } from "../../lib/jobs/registry.js";
import { type Job, type JobSummary, type RunResult, runJob } from "../../lib/jobs/run-job.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { UsageError } from "./usage.js";

/** A safety stop for --until-done: a mailbox that never finishes must not loop forever. */
const MAX_RUNS_UNTIL_DONE = 10_000;

export async function syncCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { integration: { type: "string" }, "until-done": { type: "boolean" } });
  const integrationId = values.integration === undefined ? undefined : parseId(values.integration, "--integration");
  const params = integrationId === undefined ? {} : { integrationId };
  if (!values["until-done"]) {
    const summary = await runOnce(ctx, "sync", INBOX_SYNC.job, params);
    return summary.integrations.failed > 0 ? 1 : 0;
  }
  return ctx.withDatabase("sync", async ({ db }) => {
    const log = ctx.logger("cli:inbox-sync");
    let imported = 0;
    let failed = 0;
    let last: RunResult<SyncSummary> | undefined;
    for (let run = 1; run <= MAX_RUNS_UNTIL_DONE; run++) {
      last = await runJob(INBOX_SYNC.job, params, { config: ctx.config, log, trigger: "cli", db });
      imported += last.messagesImported;
      failed += last.integrations.failed;
      const progress = { run, messagesImported: last.messagesImported, totalImported: imported, remaining: last.remaining };
      ctx.io.stderr.write(
        values.json
          ? `${JSON.stringify({ progress })}\n`
          : `run ${run}: ${last.messagesImported} messages imported, ${imported} in all${last.remaining ? ", continuing…" : ", done."}\n`,
      );
      if (!last.remaining) break;
    }
    printAnswer(ctx, INBOX_SYNC.job, { ...last!, totalImported: imported });
    return failed > 0 ? 1 : 0;
  });
}

export async function followupsRunCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { "dry-run": { type: "boolean" } });
  const summary = await runOnce(ctx, "followups run", FOLLOWUPS.job, values["dry-run"] ? FOLLOWUPS.dryRun!.params : FOLLOWUPS.scheduledParams);
  return summary.failed > 0 ? 1 : 0;
}

/** `jobs run NAME [--dry-run]`: one scheduled-like run of any job of the registry. */
export async function jobsRunCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, { "dry-run": { type: "boolean" } }, ["NAME"]);
  const entry = JOBS.find((j) => j.name === positionals[0]);
  if (!entry) throw new UsageError(`no job named ${positionals[0]}: one of ${JOBS.map((j) => j.name).join(", ")}`);
  if (values["dry-run"] && !entry.dryRun) throw new UsageError(`${entry.name} has no dry run`);
  await runOnce(ctx, "jobs run", entry.job, values["dry-run"] ? entry.dryRun!.params : entry.scheduledParams);
  return 0;
}

async function runOnce<P, S extends JobSummary>(ctx: CliContext, command: string, job: Job<P, S>, params: P): Promise<S> {
  return ctx.withDatabase(command, async ({ db }) => {
    const log = ctx.logger(`cli:${job.name}`);
    const summary = await runJob(job, params, { config: ctx.config, log, trigger: "cli", db });
    printAnswer(ctx, job, summary);
    return summary;
  });
}

function printAnswer<P, S extends JobSummary>(ctx: CliContext, job: Job<P, S>, summary: object): void {
  const answer = { success: true, message: job.successMessage, timestamp: new Date().toISOString(), ...summary };
  ctx.io.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
}
