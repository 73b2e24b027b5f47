// What one entry of the job registry declares (the registry itself, which names the product's jobs,
// is lib/app/job-registry.ts): the path it answers on, its cron, the work, whether it can run dry,
// and how the operator's page charts its runs. The rooms below the registry (the status, the page)
// read entries through this shape and are handed the list.

import type { Job, JobSummary } from "./run-job.js";

/** A job's dry run: the parameters that make it change nothing, and its outcome in the operator's words. */
export interface DryRun<P, S> {
  params: P;
  describe(summary: S): string;
}

/** What a run recorded, as read back from `job_runs.summary`: any field may be missing (an older version wrote it). */
export type StoredSummary<S> = { [K in keyof S]?: S[K] extends object ? StoredSummary<S[K]> : S[K] };

/** A run as the operator's page charts it. */
export interface RunChart {
  /** What the run did, in the entry's `itemsLabel` (messages imported, follow-ups sent). */
  items: number;
  /** The items it tried and those that failed (mailboxes, sends), when its summary says. */
  attempted: { attempted: number; failed: number } | null;
  /** Its failed items (a run that failed as a whole is counted apart, by its status). */
  failures: number;
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
  /** How the page charts a run from the summary it recorded: every job says it, so none charts 0 silently. */
  chart(summary: StoredSummary<S>): RunChart;
}

/** A registry entry: its definition, with the job's own name (the `job_runs.job` key) beside it. */
export interface JobEntry<P = unknown, S extends JobSummary = JobSummary> extends Omit<JobDefinition<P, S>, "chart"> {
  name: string;
  supportsDryRun: boolean;
  /** `chart` of the definition, over a summary of any shape (a `job_runs` row's JSON). */
  chart(summary: unknown): RunChart;
}

/** Names an entry after its job, so the name lives once (in the job, which records its runs under it). */
export function defineJob<P, S extends JobSummary>(definition: JobDefinition<P, S>): JobEntry<P, S> {
  const { chart } = definition;
  return {
    ...definition,
    name: definition.job.name,
    supportsDryRun: definition.dryRun !== undefined,
    chart: (summary) => chart((summary ?? {}) as StoredSummary<S>),
  };
}

