// A Config for tests: the real loader over a plain environment object.

import { type Config, loadConfig } from "../../lib/config.js";
import type { TestDatabase } from "./databases.js";

/** A 32-byte key, base64, fixed so failures are reproducible. */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
export const TEST_CRON_SECRET = "test-cron-secret-0123456789abcdef0123456789";

/** The environment a test runs the product with. */
export function testEnv(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: "test",
    CRON_SECRET: TEST_CRON_SECRET,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    LOG_LEVEL: "silent",
    ...database.env,
    ...extra,
  };
}

/** The Config the product would build from `testEnv`. */
export function testConfig(database: TestDatabase, extra: Record<string, string> = {}): Config {
  return loadConfig(testEnv(database, extra));
}
