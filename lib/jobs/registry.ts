// The one list of the product's jobs: the path each answers on, its cron, the work, and whether it can
// run dry. The endpoints, the Netlify and Vercel entry points, the `npm start` scheduler, the status,
// the operator page and the CLI all read it, so a third job is one entry here. (Netlify's `config`
// and vercel.json's crons are read statically by the platforms, so they repeat the path and schedule
// as literals; tests/jobs/registry.test.ts checks they equal these entries.)

import { type FollowupSummary, processAutomaticJob } from "../followups/process-automatic.js";
import { reasonText } from "../followups/reason-labels.js";
import { SYNC_ALL_PATH } from "../inbox/fan-out.js";
import { syncAllJob } from "../inbox/sync-all.js";
import type { Job, JobSummary } from "./run-job.js";

/** A job's dry run: the parameters that make it change nothing, and its outcome in the operator's words. */
export interface DryRun<P, S> {
  params: P;
  describe(summary: S): string;
}

/** What a registry entry declares. */
export interface JobDefinition<P, S extends JobSummary> {
  /** The URL path of the job's endpoint (and of the cron ping). */
  path: string;
  /** Five-field cron expression, UTC. */
  schedule: string;
  job: Job<P, S>;
  /** The parameters of a scheduled or pinged run with an empty query string. */
  scheduledParams: P;
  /** Only for a job that can run without changing anything. */
  dryRun?: DryRun<P, S>;
  /** The platform's limit on one invocation (vercel.json `maxDuration`). */
  maxDurationS?: number;
  /** The operator page's words: the job's title and what its chart counts. */
  label: string;
  itemsLabel: string;
}

/** A registry entry: its definition, with the job's own name (the `job_runs.job` key) beside it. */
export interface JobEntry<P = unknown, S extends JobSummary = JobSummary> extends JobDefinition<P, S> {
  name: string;
  supportsDryRun: boolean;
}

/** Names an entry after its job, so the name lives once (in the job, which records its runs under it). */
export function defineJob<P, S extends JobSummary>(definition: JobDefinition<P, S>): JobEntry<P, S> {
  return { ...definition, name: definition.job.name, supportsDryRun: definition.dryRun !== undefined };
}

export const INBOX_SYNC = defineJob({
  path: SYNC_ALL_PATH,
  schedule: "*/5 * * * *",
  job: syncAllJob,
  scheduledParams: {},
  maxDurationS: 60,
  label: "Synchronisation des boîtes mail",
  itemsLabel: "Messages importés",
});

export const FOLLOWUPS = defineJob({
  path: "/api/followups/process-automatic",
  schedule: "0 * * * *",
  job: processAutomaticJob,
  scheduledParams: { isDryRun: false },
  dryRun: { params: { isDryRun: true }, describe: describeFollowupsDryRun },
  maxDurationS: 60,
  label: "Relances automatiques",
  itemsLabel: "Relances envoyées (e-mail et SMS)",
});

/** Every job, in the order the status and the page show them. */
export const JOBS: readonly JobEntry[] = [INBOX_SYNC, FOLLOWUPS];

/** The entry named `name` in `jobs`; throws for a name no entry has (a typo in an entry point). */
export function jobNamed(name: string, jobs: readonly JobEntry[] = JOBS): JobEntry {
  const entry = jobs.find((j) => j.name === name);
  if (!entry) throw new Error(`no job named ${name} in the registry`);
  return entry;
}

/** The simulation's outcome in the operator's words: emails and texts apart, reasons in French. */
function describeFollowupsDryRun(summary: FollowupSummary): string {
  const planned = summary.wouldSend ?? [];
  const texts = planned.filter((p) => p.channel === "sms").length;
  const leaving = [frenchCount(planned.length - texts, "e-mail"), ...(texts ? [frenchCount(texts, "SMS", "SMS")] : [])].join(" et ");
  const waiting = Object.entries(summary.skippedByReason).map(([reason, n]) => `${n} (${reasonText(reason).label})`).join(", ");
  return `Simulation : ${leaving} partiraient maintenant, ${frenchCount(summary.closed, "relance serait close", "relances seraient closes")}` +
    `${waiting ? ` ; en attente : ${waiting}` : ""}. Rien n'a été envoyé.`;
}

/** French counts: 0 and 1 take the singular. */
function frenchCount(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n <= 1 ? singular : plural}`;
}
