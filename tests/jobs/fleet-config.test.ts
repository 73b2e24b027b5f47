// The fleet settings read from the environment: concurrency, the deprecated per-run bound, and where
// fan-out invocations are sent (configuration or the platform's own address, never a request's Host).

import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../lib/config.js";
import { createRoutes } from "../../lib/app/routes.js";
import { childInvocationsFor, SYNC_ALL_PATH } from "../../lib/inbox/fan-out.js";

describe("fleet settings", () => {
  it("syncs many mailboxes at once by default, few per host, with no fixed count per run and fan-out off", () => {
    const config = loadConfig({ NODE_ENV: "test" });
    expect(config.sync).toEqual({ concurrency: 24, concurrencyPerHost: 5, maxIntegrationsPerRun: undefined });
    expect(config.fanout.maxInvocations).toBe(0);
    expect(childInvocationsFor(config, 10_000)).toBe(0);
  });

  it("still accepts INTEGRATIONS_PER_RUN, as an upper bound", () => {
    expect(loadConfig({ INTEGRATIONS_PER_RUN: "50" }).sync.maxIntegrationsPerRun).toBe(50);
  });

  it("never allows more sessions on one host than in all", () => {
    expect(loadConfig({ SYNC_CONCURRENCY: "3", SYNC_CONCURRENCY_PER_HOST: "8" }).sync.concurrencyPerHost).toBe(3);
  });

  it("starts one more invocation per share of due mailboxes, up to FANOUT_MAX_INVOCATIONS", () => {
    const config = loadConfig({ FANOUT_MAX_INVOCATIONS: "3", FANOUT_MAILBOXES_PER_INVOCATION: "100" });
    expect([50, 100, 101, 250, 10_000].map((due) => childInvocationsFor(config, due))).toEqual([0, 0, 1, 2, 3]);
  });

  it("sends fan-out to the configured address first, then the platform's production domain", () => {
    expect(loadConfig({ FANOUT_BASE_URL: "https://sync.example.test/", PUBLIC_BASE_URL: "https://app.example.test" }).fanout.baseUrl).toBe("https://sync.example.test");
    expect(loadConfig({ PUBLIC_BASE_URL: "https://app.example.test" }).fanout.baseUrl).toBe("https://app.example.test");
    expect(loadConfig({ VERCEL: "1", VERCEL_ENV: "production", CRON_SECRET: "x".repeat(32), DATABASE_URL: "postgres://db.example.test/x", VERCEL_URL: "p-abc.vercel.app", VERCEL_PROJECT_PRODUCTION_URL: "p.example.test" }).fanout.baseUrl).toBe("https://p.example.test");
    expect(loadConfig({ DATABASE_URL: "postgres://db.example.test/x", VERCEL: "1", VERCEL_URL: "p-abc.vercel.app" }).fanout.baseUrl).toBe("https://p-abc.vercel.app");
    expect(loadConfig({ DATABASE_URL: "postgres://db.example.test/x", NETLIFY: "true", URL: "https://site.netlify.app" }).fanout.baseUrl).toBe("https://site.netlify.app");
    expect(loadConfig({}).fanout.baseUrl).toBeUndefined();
  });

  it.each([
    ["FANOUT_BASE_URL", { FANOUT_BASE_URL: "http://sync.example.test" }],
    ["PUBLIC_BASE_URL", { PUBLIC_BASE_URL: "http://app.example.test" }],
    ["a private address", { FANOUT_BASE_URL: "http://10.0.0.5:3000" }],
    ["another scheme", { FANOUT_BASE_URL: "ftp://sync.example.test" }],
  ])("refuses a fan-out address in plain text (%s): the cron secret would cross the network in clear", (_what, address) => {
    const load = () => loadConfig({ FANOUT_MAX_INVOCATIONS: "2", ...address });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/FANOUT_BASE_URL \(or PUBLIC_BASE_URL, its default\) must start with https:\/\//);
  });

  it("allows plain http to a loopback host only, and says nothing of an http address while fan-out is off", () => {
    for (const base of ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"]) {
      expect(loadConfig({ FANOUT_MAX_INVOCATIONS: "2", FANOUT_BASE_URL: base }).fanout.baseUrl).toBe(base);
    }
    expect(loadConfig({ PUBLIC_BASE_URL: "http://app.example.test" }).fanout.maxInvocations).toBe(0);
  });

  it("answers 503 \"misconfigured\", naming the variables, while fan-out is on with a plain http address", async () => {
    const env = { NODE_ENV: "test", FANOUT_MAX_INVOCATIONS: "2", PUBLIC_BASE_URL: "http://app.example.test" };
    const endpoint = createRoutes({ env: () => env, logSink: () => {} })[SYNC_ALL_PATH]!;
    const answer = await endpoint(new Request(`http://localhost${SYNC_ALL_PATH}`));
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as { error: string }).error).toMatch(/^Server misconfigured: FANOUT_BASE_URL \(or PUBLIC_BASE_URL/);
  });
});
