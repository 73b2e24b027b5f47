// JSON answers of the endpoints, and the one place that turns any thrown value into a response.

import { ConfigError } from "../config.js";
import { HttpError, JobError } from "../errors.js";
import { DatabaseUnavailableError } from "../jobs/run-job.js";
import type { Logger } from "../log.js";

/** A JSON response with a status. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}

/**
 * The answer for an error that reached the endpoint. Known errors say what is wrong in words an
 * operator can act on; anything else is a generic 500, with the details only in the log.
 */
export function errorResponse(err: unknown, log: Logger): Response {
  if (err instanceof HttpError) return err.toResponse();
  if (err instanceof ConfigError) {
    log.error("misconfigured", { error: err.message });
    return json(503, { success: false, error: `Server misconfigured: ${err.message}` });
  }
  if (err instanceof DatabaseUnavailableError) {
    log.error("database unreachable", { error: err.message });
    return json(500, { success: false, error: "Database unreachable: check DATABASE_URL and the database server" });
  }
  log.error("run failed", { error: err instanceof Error ? err.message : String(err), kind: err instanceof JobError ? err.kind : undefined });
  return json(500, { success: false, error: "Internal error: see the server logs" });
}
