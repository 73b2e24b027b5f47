// The operator's endpoints beside the two jobs: `GET /api/health` (public: nothing private in it)
// and `GET /api/cron/status` (behind the cron secret: it names failing mailboxes).

import { openDb } from "../db/client.js";
import { DatabaseUnavailableError } from "../errors.js";
import { assertCronSecret } from "../http/auth.js";
import { type EndpointOptions, guardedEndpoint } from "../http/endpoint.js";
import { json } from "../http/respond.js";
import type { JobEntry } from "../jobs/job-entry.js";
import { readCronStatus } from "./cron-status.js";
import { checkHealth } from "./health.js";

export const HEALTH_PATH = "/api/health";
export const CRON_STATUS_PATH = "/api/cron/status";

const READ_METHODS = ["GET", "HEAD"];

/** `GET /api/health`: 200 when the database is reachable and migrated, 503 otherwise. */
export function healthEndpoint(options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:health", READ_METHODS, options, async (_req, { config }) => {
    const report = await checkHealth(config);
    return json(report.status === "ok" ? 200 : 503, report);
  });
}

/** `GET /api/cron/status`: recent runs of each job of `jobs` (the registry), failing mailboxes, follow-ups waiting and why. */
export function cronStatusEndpoint(jobs: readonly JobEntry[], options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:cron-status", READ_METHODS, options, async (req, { config, log }) => {
    assertCronSecret(req, config, log);
    const opened = options.db ? undefined : await openDb(config.database).catch((err: unknown) => {
      throw new DatabaseUnavailableError(err);
    });
    try {
      const now = options.now ?? (() => new Date());
      const status = await readCronStatus(options.db ?? opened!.db, { config, log, now }, jobs);
      return json(200, { success: true, timestamp: now().toISOString(), ...status });
    } finally {
      await opened?.close();
    }
  });
}
