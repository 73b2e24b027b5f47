// A Config for tests: the real loader over a plain environment object.

import { type Config, loadConfig, type MailHostPolicy } from "../../lib/config.js";
import type { TestDatabase } from "./databases.js";

/** A 32-byte key, base64, fixed so failures are reproducible. */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
export const TEST_CRON_SECRET = "test-cron-secret-0123456789abcdef0123456789";

/** The environment a test runs the product with. Every test peer listens on loopback, on a free port. */
export function testEnv(database: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: "test",
    CRON_SECRET: TEST_CRON_SECRET,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    LOG_LEVEL: "silent",
    ALLOW_PRIVATE_MAIL_HOSTS: "true",
    ...database.env,
    ...extra,
  };
}

/** The Config the product would build from `testEnv`. */
export function testConfig(database: TestDatabase, extra: Record<string, string> = {}): Config {
  return loadConfig(testEnv(database, extra));
}

/** The mail host policy of `testEnv`, for tests that open IMAP or SMTP sessions themselves. */
export const TEST_MAIL_HOST_POLICY: MailHostPolicy = loadConfig({ ALLOW_PRIVATE_MAIL_HOSTS: "true" }).mailHosts;
