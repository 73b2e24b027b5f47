// The handler a platform scheduler calls (Netlify scheduled functions): runs the job directly, with
// no secret in the request, because the platform's scheduler cannot send one. Netlify does not expose
// scheduled functions by URL on deployed sites; as a second fence the handler still refuses anything
// that neither looks like the scheduler's call nor carries the cron secret. A forged call could only
// start one more run, which is harmless: every run is budgeted and leases prevent overlap.

import { HttpError } from "../errors.js";
import { type Job, type JobSummary, runJob } from "../jobs/run-job.js";
import { assertCronSecret } from "./auth.js";
import { type EndpointOptions, guardedEndpoint } from "./endpoint.js";
import { json } from "./respond.js";

/** The header Netlify's scheduler sets on its invocations. */
const SCHEDULER_EVENT_HEADER = "x-nf-event";

/** Builds the scheduled-function handler of a job, run with `params`. */
export function scheduledHandler<P, S extends JobSummary>(job: Job<P, S>, params: P, options: EndpointOptions = {}) {
  return guardedEndpoint(`schedule:${job.name}`, ["GET", "POST"], options, async (req, { config, log }) => {
    if (req.headers.get(SCHEDULER_EVENT_HEADER) !== "schedule") {
      if (config.cronSecrets.length === 0) throw new HttpError(403, "Not a scheduler invocation");
      assertCronSecret(req, config, log);
    }
    const summary = await runJob(job, params, { config, log, trigger: "schedule", now: options.now, db: options.db });
    return json(200, { success: true, message: job.successMessage, timestamp: new Date().toISOString(), ...summary });
  });
}
