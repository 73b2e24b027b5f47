// The handler a platform scheduler calls (Netlify scheduled functions): runs the job directly, for
// any invocation that reaches it, with no secret and no particular header or method.
//
// Why nothing is checked: Netlify's documented contract for a scheduled function is only that the
// platform invokes it on its cron (published deploys only, no payload of interest, 30 s, which the
// run's budget fits in: budget.ts). It promises no header (`x-nf-event: schedule` is seen today but
// undocumented), no method and no way to send a secret, so any such check could refuse a real
// scheduled run (the old header check did). A scheduled function has no `config.path`, and Netlify
// has it run by its scheduler (or the UI's "Run now"), testing it by URL only under `netlify dev` /
// `netlify functions:invoke`. Were one reached by URL anyway, it could only start one more run, which
// is harmless: every run is budgeted, leases keep two runs off the same mailbox or follow-up, and
// sends are recorded before SMTP. The job endpoints, reachable by URL, keep the cron secret.

import { ANY_METHOD, type EndpointOptions, guardedEndpoint } from "../http/endpoint.js";
import { json } from "../http/respond.js";
import { invocationLimitMs } from "./budget.js";
import { type Job, type JobSummary, runJob } from "./run-job.js";

/** Builds the scheduled-function handler of a job, run with `params`. */
export function scheduledHandler<P, S extends JobSummary>(job: Job<P, S>, params: P, options: EndpointOptions = {}) {
  return guardedEndpoint(`schedule:${job.name}`, [ANY_METHOD], options, async (_req, { config, log, startedAtMs }) => {
    const invocation = { startedAtMs, limitMs: invocationLimitMs(config.platform, "schedule") };
    const summary = await runJob(job, params, { config, log, trigger: "schedule", now: options.now, db: options.db, invocation });
    return json(200, { success: true, message: job.successMessage, timestamp: new Date().toISOString(), ...summary });
  });
}
