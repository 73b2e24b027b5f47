// A bucket of one test on the run's S3 server (s3-server.ts), and an SDK client to arrange and
// inspect it.

import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { inject } from "vitest";
import { TEST_S3_ACCESS_KEY_ID, TEST_S3_REGION, TEST_S3_SECRET_ACCESS_KEY } from "./s3-server.js";

/** A bucket of one test on the run's server, and the environment that makes it the product's store. */
export interface TestBucket {
  name: string;
  /** S3_* variables pointing at `port` (the server itself by default, or a front before it). */
  env(port?: number): Record<string, string>;
}

/** Creates an empty bucket with a fresh name on the run's S3 server. */
export function createTestBucket(): TestBucket {
  const serverPort = inject("s3Port");
  const name = `t-${randomBytes(8).toString("hex")}`;
  mkdirSync(join(inject("s3Directory"), name));
  return {
    name,
    env: (port = serverPort) => ({
      S3_BUCKET: name,
      S3_REGION: TEST_S3_REGION,
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_ACCESS_KEY_ID: TEST_S3_ACCESS_KEY_ID,
      S3_SECRET_ACCESS_KEY: TEST_S3_SECRET_ACCESS_KEY,
      S3_FORCE_PATH_STYLE: "true",
    }),
  };
}

/** An SDK client of the test server, for arranging and inspecting buckets. */
export function testS3Client(port: number = inject("s3Port")): S3Client {
  return new S3Client({
    region: TEST_S3_REGION,
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: TEST_S3_ACCESS_KEY_ID, secretAccessKey: TEST_S3_SECRET_ACCESS_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

