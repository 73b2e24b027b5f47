import { describe, expect, it } from "vitest";
import { JobError } from "../../lib/errors.js";
import { errorResponse } from "../../lib/http/respond.js";
import { createLogger, type LogLevel } from "../../lib/log.js";

function capturingLogger() {
  const lines: { level: LogLevel; line: Record<string, unknown> }[] = [];
  const log = createLogger("test", { level: "debug", sink: (line, level) => lines.push({ level, line: JSON.parse(line) as Record<string, unknown> }) });
  return { log, lines };
}

describe("error kinds", () => {
  it("answers a run that failed on a transient error with 503 and logs a warning, so the next ping retries without paging anyone", async () => {
    const { log, lines } = capturingLogger();
    const response = errorResponse(new JobError("transient", "database timed out"), log);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ success: false, error: "Run failed (transient): see the server logs" });
    expect(lines).toEqual([{ level: "warn", line: expect.objectContaining({ msg: "run failed", kind: "transient" }) }]);
  });

  it("answers a permanent failure with 500 logged as an error, and a login a mail host refused with 502, not the caller's 403", () => {
    const { log, lines } = capturingLogger();
    expect(errorResponse(new JobError("permanent", "schema mismatch"), log).status).toBe(500);
    expect(errorResponse(new JobError("auth", "mail host refused the login"), log).status).toBe(502);
    expect(lines.map((l) => l.level)).toEqual(["error", "warn"]);
  });

});
