// A job's HTTP endpoint: the portable core (lib/http/endpoint.ts) with the cron secret checked, the
// job run within the platform's limit, and its summary as the answer. Vercel, Netlify, the local
// server and the tests all reach the jobs through it.

import { assertCronSecret } from "../http/auth.js";
import { type EndpointOptions, guardedEndpoint } from "../http/endpoint.js";
import { json } from "../http/respond.js";
import { invocationLimitMs } from "./budget.js";
import { type Job, type JobSummary, runJob } from "./run-job.js";

export interface CronEndpointOptions extends EndpointOptions {
  /** The function's `maxDuration` on Vercel (the job's registry entry): the limit a run's budget fits in there. */
  maxDurationS?: number;
}

/** Builds the HTTP endpoint of a job: GET or POST, behind the cron secret. */
export function cronEndpoint<P, S extends JobSummary>(job: Job<P, S>, options: CronEndpointOptions = {}) {
  return guardedEndpoint(`endpoint:${job.name}`, ["GET", "POST"], options, async (req, { config, log, startedAtMs }) => {
    assertCronSecret(req, config, log);
    log.info(job.triggerLogLine);
    const query = new URL(req.url).searchParams;
    const invocation = { startedAtMs, limitMs: invocationLimitMs(config.platform, "request", options.maxDurationS) };
    const summary = await runJob(job, job.paramsFromQuery(query), { config, log, trigger: "http", now: options.now, db: options.db, invocation });
    return json(200, {
      success: true,
      message: job.successMessage,
      timestamp: (options.now?.() ?? new Date()).toISOString(),
      ...summary,
    });
  });
}
