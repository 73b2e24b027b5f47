// The operator's endpoints beside the two jobs: `GET /api/health` (public: nothing private in it)
// and `GET /api/cron/status` (behind the cron secret: it names failing mailboxes).

import { loadConfig } from "../config.js";
import { openDb } from "../db/client.js";
import { HttpError } from "../errors.js";
import { DatabaseUnavailableError } from "../jobs/run-job.js";
import { createLogger } from "../log.js";
import { readCronStatus } from "../ops/cron-status.js";
import { checkHealth } from "../ops/health.js";
import { assertCronSecret } from "./auth.js";
import type { EndpointOptions } from "./endpoint.js";
import { errorResponse, json } from "./respond.js";

export const HEALTH_PATH = "/api/health";
export const CRON_STATUS_PATH = "/api/cron/status";

const READ_METHODS = ["GET", "HEAD"];

/** `GET /api/health`: 200 when the database is reachable and migrated, 503 otherwise. */
export function healthEndpoint(options: EndpointOptions = {}) {
  return async (req: Request): Promise<Response> => {
    const log = createLogger("endpoint:health", { sink: options.logSink });
    try {
      assertReadMethod(req);
      const report = await checkHealth(loadConfig(options.env?.() ?? process.env));
      return json(report.status === "ok" ? 200 : 503, report);
    } catch (err) {
      return errorResponse(err, log);
    }
  };
}

/** `GET /api/cron/status`: recent runs of each job, failing mailboxes, follow-ups waiting and why. */
export function cronStatusEndpoint(options: EndpointOptions = {}) {
  return async (req: Request): Promise<Response> => {
    let log = createLogger("endpoint:cron-status", { sink: options.logSink });
    try {
      assertReadMethod(req);
      const config = loadConfig(options.env?.() ?? process.env);
      log = createLogger("endpoint:cron-status", { sink: options.logSink, level: config.logLevel });
      assertCronSecret(req, config, log);
      const opened = options.db ? undefined : await openDb(config.database).catch((err: unknown) => {
        throw new DatabaseUnavailableError(err);
      });
      try {
        const now = options.now ?? (() => new Date());
        const status = await readCronStatus(options.db ?? opened!.db, { config, log, now });
        return json(200, { success: true, timestamp: now().toISOString(), ...status });
      } finally {
        await opened?.close();
      }
    } catch (err) {
      return errorResponse(err, log);
    }
  };
}

function assertReadMethod(req: Request): void {
  if (!READ_METHODS.includes(req.method)) {
    throw new HttpError(405, `Method ${req.method} not allowed: use GET`, { allow: READ_METHODS.join(", ") });
  }
}
