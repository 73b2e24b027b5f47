// The portable core of a cron endpoint: (Request) => Response, used unchanged by Vercel, Netlify,
// the local server and the tests. Method, config, secret, run, answer: in that order, once.

import { loadConfig } from "../config.js";
import type { Db } from "../db/client.js";
import { HttpError } from "../errors.js";
import { type Job, type JobSummary, runJob } from "../jobs/run-job.js";
import { createLogger, type LogSink } from "../log.js";
import { assertCronSecret } from "./auth.js";
import { errorResponse, json } from "./respond.js";

export interface EndpointOptions {
  /** The environment to read (process.env by default). */
  env?: () => Record<string, string | undefined>;
  /** The business clock (tests). */
  now?: () => Date;
  logSink?: LogSink;
  /** An already open database (the local server keeps one for its lifetime); otherwise each run opens its own. */
  db?: Db;
}

const ALLOWED_METHODS = ["GET", "POST"];

/**
 * Builds the HTTP endpoint of a job. Only GET and POST run it; any other method gets 405 with
 * `Allow`, which is why the platform adapters route every method here rather than letting the
 * platform answer on its own.
 */
export function cronEndpoint<P, S extends JobSummary>(job: Job<P, S>, options: EndpointOptions = {}) {
  return async (req: Request): Promise<Response> => {
    let log = createLogger(`endpoint:${job.name}`, { sink: options.logSink });
    try {
      if (!ALLOWED_METHODS.includes(req.method)) {
        throw new HttpError(405, `Method ${req.method} not allowed: use GET or POST`, { allow: ALLOWED_METHODS.join(", ") });
      }
      const config = loadConfig(options.env?.() ?? process.env);
      log = createLogger(`endpoint:${job.name}`, { sink: options.logSink, level: config.logLevel });
      assertCronSecret(req, config, log);
      log.info(job.triggerLogLine);
      const query = new URL(req.url).searchParams;
      const summary = await runJob(job, job.paramsFromQuery(query), {
        config,
        log,
        trigger: "http",
        now: options.now,
        db: options.db,
      });
      return json(200, {
        success: true,
        message: job.successMessage,
        timestamp: (options.now?.() ?? new Date()).toISOString(),
        ...summary,
      });
    } catch (err) {
      return errorResponse(err, log);
    }
  };
}
