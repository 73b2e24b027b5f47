// What the structured logs show of secrets: nothing, whatever field carries one, while the yes/no
// and count fields whose names merely mention a secret stay readable for the operator.

import { describe, expect, it } from "vitest";
import { createRoutes } from "../../lib/app/routes.js";
import { INBOX_SYNC } from "../../lib/app/job-registry.js";
import { createLogger } from "../../lib/log.js";
import { TEST_CRON_SECRET, TEST_ENCRYPTION_KEY } from "../support/config.js";
import { requestTo } from "./harness.js";

const A_SECRET = "s3cr3t-value-that-must-never-be-logged";

function linesOf(write: (log: ReturnType<typeof createLogger>) => void): Record<string, unknown>[] {
  const lines: string[] = [];
  write(createLogger("test", { sink: (line) => lines.push(line) }));
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("log redaction", () => {
  it("shows whether a rejected request carried a secret, as a boolean", async () => {
    const lines: string[] = [];
    const env = { NODE_ENV: "test", CRON_SECRET: TEST_CRON_SECRET, ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: "info" };
    const endpoints = createRoutes({ env: () => env, logSink: (line) => lines.push(line) });
    const syncAll = endpoints[INBOX_SYNC.path]!;
    expect((await syncAll(requestTo(INBOX_SYNC.path))).status).toBe(403);
    expect((await syncAll(requestTo(INBOX_SYNC.path, { headers: { authorization: `Bearer ${A_SECRET}` } }))).status).toBe(403);
    const rejected = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === "rejected request with a missing or wrong secret");
    expect(rejected.map((line) => line.hasSecret)).toEqual([false, true]);
    expect(lines.join("\n")).not.toContain(A_SECRET);
  });

  it("keeps booleans, numbers and empty values readable under names that mention a secret", () => {
    const [line] = linesOf((log) => log.info("counts", { hasSecret: true, isPasswordSet: false, tokenCount: 3, bodyBytes: 2048, cookie: null }));
    expect(line).toMatchObject({ hasSecret: true, isPasswordSet: false, tokenCount: 3, bodyBytes: 2048, cookie: null });
  });

  it("masks every string, object or error under a secret-bearing name, at any depth", () => {
    const fields = {
      password: A_SECRET,
      smtpPassword: A_SECRET,
      cronSecret: A_SECRET,
      Authorization: `Bearer ${A_SECRET}`,
      accessToken: A_SECRET,
      cookie: `session=${A_SECRET}`,
      headers: { "x-anything": A_SECRET },
      body: [A_SECRET],
      pass: new Error(A_SECRET),
      integration: { id: 7, credentials: { user: "me", pass: A_SECRET }, tokens: [{ refreshToken: A_SECRET }] },
      attempts: [{ secret: A_SECRET }],
    };
    const [line] = linesOf((log) => log.warn("everything sensitive", fields));
    expect(JSON.stringify(line)).not.toContain(A_SECRET);
    expect(line).toMatchObject({ password: "[redacted]", headers: "[redacted]", integration: { id: 7, credentials: { user: "me" } } });
  });
});
