// `lokario-cron sync`, `lokario-cron followups run` and `lokario-cron jobs run NAME` (any job of the
// registry): a run of a job, printing the same JSON as its endpoint. `sync --until-done` keeps
// running until nothing is left (a first import of a large mailbox spans many runs), with a
// progress line on stderr after each run. Exit code 1 when a mailbox or a follow-up failed, or when
// `sync --integration` cannot sync the mailbox (disabled, waiting for reconnection…: it says why
// and what fixes it), so scripts notice.

import type { Db } from "../../lib/db/client.js";
import type { SyncSummary } from "../../lib/inbox/sync-all.js";
import { readMailboxState } from "../../lib/ops/mailbox-state.js";
import { FOLLOWUPS, INBOX_SYNC, JOBS } from "../../lib/app/job-registry.js";
import { type Job, type JobSummary, type RunResult, runJob } from "../../lib/jobs/run-job.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { countOf } from "./count-words.js";
import { describeMailboxState } from "./describe-mailbox.js";
import { CliError, UsageError } from "./usage.js";

/** A safety stop for --until-done: a mailbox that never finishes must not loop forever. */
const MAX_RUNS_UNTIL_DONE = 10_000;
/** --until-done gives up after this many failed runs in a row (a failure a retry cannot fix). */
const MAX_FAILED_RUNS_IN_A_ROW = 3;

export async function syncCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { integration: { type: "string" }, "until-done": { type: "boolean" } });
  const integrationId = values.integration === undefined ? undefined : parseId(values.integration, "--integration");
  const params = integrationId === undefined ? {} : { integrationId };
  return ctx.withDatabase("sync", async ({ db }) => {
    if (integrationId !== undefined) await assertSyncable(db, integrationId);
    if (!values["until-done"]) {
      const summary = await runJob(INBOX_SYNC.job, params, { config: ctx.config, log: ctx.logger("cli:inbox-sync"), trigger: "cli", db });
      printAnswer(ctx, INBOX_SYNC.job, summary);
      return (await forcedOutcome(ctx, db, integrationId, summary)) ?? (summary.integrations.failed > 0 ? 1 : 0);
    }
    const log = ctx.logger("cli:inbox-sync");
    let imported = 0;
    let failedInARow = 0;
    let last: RunResult<SyncSummary> | undefined;
    for (let run = 1; run <= MAX_RUNS_UNTIL_DONE; run++) {
      last = await runJob(INBOX_SYNC.job, params, { config: ctx.config, log, trigger: "cli", db });
      imported += last.messagesImported;
      // A failed run (a server slow to answer within the run's budget, a dropped connection) is
      // tried again a few times: a first import is only done when a run ends with nothing left.
      failedInARow = last.integrations.failed > 0 ? failedInARow + 1 : 0;
      const isGivingUp = failedInARow >= MAX_FAILED_RUNS_IN_A_ROW;
      const remaining = !isGivingUp && (last.remaining || failedInARow > 0);
      const progress = { run, messagesImported: last.messagesImported, totalImported: imported, remaining, failed: last.integrations.failed };
      const next = isGivingUp
        ? ", stopped: a mailbox failed on each of the last runs."
        : failedInARow > 0
          ? ", a mailbox failed: trying again…"
          : remaining
            ? ", continuing…"
            : ", done.";
      ctx.io.stderr.write(
        values.json
          ? `${JSON.stringify({ progress })}\n`
          : `run ${run}: ${countOf(last.messagesImported, "message")} imported, ${imported} in all${next}\n`,
      );
      if (!remaining) break;
    }
    printAnswer(ctx, INBOX_SYNC.job, { ...last!, totalImported: imported });
    // The outcome is the last run's: a failure a later run got past is not one.
    return (await forcedOutcome(ctx, db, integrationId, last!)) ?? (last!.integrations.failed > 0 ? 1 : 0);
  });
}

/** Refuses, with why and the command that fixes it, a mailbox a forced sync cannot take now. */
async function assertSyncable(db: Db, integrationId: number): Promise<void> {
  const now = new Date();
  const found = await readMailboxState(db, integrationId, now);
  if (!found) throw new CliError(`integration ${integrationId} does not exist (see: lokario-cron integrations list)`);
  if (!found.state.isSyncableNow) {
    throw new CliError(`integration ${integrationId} not synced: ${describeMailboxState(found.row, found.state, now)}`);
  }
}

/**
 * After `sync --integration`: a mailbox the run could not take (another run took it meanwhile) or
 * that failed is said on stderr with what to do; the exit code is 1. Undefined for a plain sync.
 */
async function forcedOutcome(ctx: CliContext, db: Db, integrationId: number | undefined, summary: SyncSummary): Promise<number | undefined> {
  if (integrationId === undefined || (summary.integrations.skipped === 0 && summary.integrations.failed === 0)) return undefined;
  const now = new Date();
  const found = await readMailboxState(db, integrationId, now);
  const state = found ? describeMailboxState(found.row, found.state, now) : "it no longer exists";
  ctx.io.stderr.write(`lokario-cron: integration ${integrationId} ${summary.integrations.failed > 0 ? "failed" : "not synced"}: ${state}\n`);
  return 1;
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
