// The portable core of every endpoint: (Request) => Response, used unchanged by Vercel, Netlify,
// the local server and the tests. Method, config, then the endpoint's own work, and one mapping of
// any error to its answer: written once. (A job's endpoint adds the secret and the run on top:
// lib/jobs/cron-endpoint.ts.)

import { type Config, loadConfig } from "../config.js";
import type { Db } from "../db/client.js";
import { HttpError } from "../errors.js";
import { createLogger, type Logger, type LogSink } from "../log.js";
import { errorResponse } from "./respond.js";

export interface EndpointOptions {
  /** The environment to read (process.env by default). */
  env?: () => Record<string, string | undefined>;
  /** The business clock (tests). */
  now?: () => Date;
  logSink?: LogSink;
  /** An already open database (the local server keeps one for its lifetime); otherwise each run opens its own. */
  db?: Db;
}

/**
 * A web-standard handler that also names the methods it answers, for a server that must say `Allow`
 * to a method no web Request can carry (TRACE, CONNECT: the Fetch standard forbids them).
 */
export type GuardedEndpoint = ((req: Request) => Promise<Response>) & { readonly methods: readonly string[] };

/** In a guarded endpoint's methods: every method is accepted (a platform's own invocation, whose method it does not promise). */
export const ANY_METHOD = "*";

/** What a guarded endpoint's own work receives once method and configuration are checked. */
export interface EndpointContext {
  config: Config;
  log: Logger;
  /** `performance.now()` at the handler's first line: where the platform starts counting its limit. */
  startedAtMs: number;
}

/**
 * The frame every endpoint shares, written once: the method check (405 with `Allow`), the
 * configuration (503 when invalid), a logger at the configured level, and one mapping of any thrown
 * error to its answer. The platform adapters route every method here rather than letting the
 * platform answer on its own.
 */
export function guardedEndpoint(
  scope: string,
  methods: string[],
  options: EndpointOptions,
  work: (req: Request, ctx: EndpointContext) => Promise<Response>,
): GuardedEndpoint {
  const handler = async (req: Request): Promise<Response> => {
    const startedAtMs = performance.now();
    let log = createLogger(scope, { sink: options.logSink });
    try {
      if (!methods.includes(ANY_METHOD) && !methods.includes(req.method)) {
        throw new HttpError(405, `Method ${req.method} not allowed: use ${methods.join(" or ")}`, { allow: methods.join(", ") });
      }
      const config = loadConfig(options.env?.() ?? process.env);
      log = createLogger(scope, { sink: options.logSink, level: config.logLevel });
      return await work(req, { config, log, startedAtMs });
    } catch (err) {
      return errorResponse(err, log);
    }
  };
  return Object.assign(handler, { methods: [...methods] });
}
