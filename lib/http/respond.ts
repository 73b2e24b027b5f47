// JSON answers of the endpoints, and the one place that turns any thrown value into a response.

import { ConfigError } from "../config.js";
import { DatabaseUnavailableError, ERROR_KINDS, HttpError, JobError } from "../errors.js";
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
  if (err instanceof JobError) {
    // The kind's row says how bad it is: a transient failure is a 503 (the next ping retries) logged as a warning.
    const { status, level } = ERROR_KINDS[err.kind];
    log[level]("run failed", { error: err.message, kind: err.kind });
    return json(status, { success: false, error: `Run failed (${err.kind}): see the server logs` });
  }
  log.error("run failed", { error: err instanceof Error ? err.message : String(err) });
  return json(500, { success: false, error: "Internal error: see the server logs" });
}
