// The fleet settings read from the environment: concurrency, the deprecated per-run bound, and where
// fan-out invocations are sent (configuration or the platform's own address, never a request's Host).

import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config.js";
import { childInvocationsFor } from "../../lib/inbox/fan-out.js";

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
    expect(loadConfig({ VERCEL: "1", VERCEL_URL: "p-abc.vercel.app" }).fanout.baseUrl).toBe("https://p-abc.vercel.app");
    expect(loadConfig({ NETLIFY: "true", URL: "https://site.netlify.app" }).fanout.baseUrl).toBe("https://site.netlify.app");
    expect(loadConfig({}).fanout.baseUrl).toBeUndefined();
  });
});
