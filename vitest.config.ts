import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/support/global-setup.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real servers, real sockets: a failure should say so, not be retried into a pass.
    retry: 0,
    allowOnly: false,
  },
});
