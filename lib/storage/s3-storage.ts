// The store in an S3-API bucket (AWS S3, Cloudflare R2, Scaleway, OVHcloud Object Storage…), through
// the official AWS SDK. Content is uploaded as it is read, in parts of 5 MiB (upload-in-parts.ts),
// never whole in memory; paths handed out read `s3://<bucket>/<key>`. The SDK is loaded on first
// use, so deployments without a bucket never pay for it.

import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Settings } from "../config.js";
import { type AttachmentStorage, assertSafeKey } from "./store-contract.js";
import { StoreError, uploadInParts } from "./upload-in-parts.js";

/** Paths of the bucket store start with this: `s3://<bucket>/<key>`. */
export const S3_PATH_PREFIX = "s3://";

/** A bucket store, with what moving files into it needs besides the common calls. */
export interface BucketStorage extends AttachmentStorage {
  readonly bucket: string;
  /** The `file_path` of `key` in this bucket. */
  pathOf(key: string): string;
  /**
   * Uploads `content` in one request with its MD5 (the store refuses bytes that arrive altered)
   * and its SHA-256 in the object's metadata.
   */
  putVerifiable(key: string, content: Buffer, sha256: string): Promise<void>;
  /** Size and SHA-256 metadata the bucket holds for `key` (a HEAD), or null when there is no such object. */
  describe(key: string): Promise<{ sizeBytes: number; sha256?: string } | null>;
  /** Size and SHA-256 of the bytes the bucket returns for `key`, read back in full. */
  digest(key: string): Promise<{ sizeBytes: number; sha256: string }>;
}

/** The store in the bucket `settings` name. */
export function createS3Storage(settings: S3Settings): BucketStorage {
  const { bucket } = settings;
  const keyOf = (path: string): string => keyOfS3Path(bucket, path);

  const pathOf = (key: string): string => {
    assertSafeKey(key);
    return `${S3_PATH_PREFIX}${bucket}/${key}`;
  };
  const open = (path: string): Readable => {
    const key = keyOf(path);
    return Readable.from(
      (async function* () {
        const [client, { GetObjectCommand }] = await Promise.all([s3ClientFor(settings), import("@aws-sdk/client-s3")]);
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).catch((err: unknown) => {
          throw s3Error("read", key, err);
        });
        yield* response.Body as Readable;
      })(),
    );
  };

  return {
    bucket,
    pathOf,
    open,

    async put(key, content) {
      assertSafeKey(key);
      const client = await s3ClientFor(settings);
      try {
        return { path: pathOf(key), sizeBytes: await uploadInParts(client, bucket, key, content) };
      } catch (err) {
        // The source's own failure (an attachment over the size limit) is the caller's to read.
        throw err instanceof StoreError ? s3Error("upload", key, err.cause) : err;
      }
    },

    async remove(path) {
      const key = keyOf(path);
      const [client, { DeleteObjectCommand }] = await Promise.all([s3ClientFor(settings), import("@aws-sdk/client-s3")]);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch((err: unknown) => {
        throw s3Error("delete", key, err);
      });
    },

    async putVerifiable(key, content, sha256) {
      assertSafeKey(key);
      const [client, { PutObjectCommand }] = await Promise.all([s3ClientFor(settings), import("@aws-sdk/client-s3")]);
      const md5 = createHash("md5").update(content).digest("base64");
      await client
        .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: content, ContentLength: content.length, ContentMD5: md5, Metadata: { sha256 } }))
        .catch((err: unknown) => {
          throw s3Error("upload", key, err);
        });
    },

    async describe(key) {
      assertSafeKey(key);
      const [client, { HeadObjectCommand }] = await Promise.all([s3ClientFor(settings), import("@aws-sdk/client-s3")]);
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { sizeBytes: head.ContentLength ?? 0, sha256: head.Metadata?.sha256 };
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
        throw s3Error("look-up", key, err);
      }
    },

    async digest(key) {
      const hash = createHash("sha256");
      let sizeBytes = 0;
      for await (const chunk of open(pathOf(key)) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        sizeBytes += chunk.length;
      }
      return { sizeBytes, sha256: hash.digest("hex") };
    },
  };
}

/** The key of `path` in `bucket`; throws for a path of another store or bucket, or an unsafe key. */
export function keyOfS3Path(bucket: string, path: string): string {
  const prefix = `${S3_PATH_PREFIX}${bucket}/`;
  if (!path.startsWith(prefix)) throw new Error(`not a path of the bucket ${bucket}`);
  const key = path.slice(prefix.length);
  assertSafeKey(key);
  return key;
}

/** Whether `path` names an object of a bucket store. */
export function isS3Path(path: string): boolean {
  return path.startsWith(S3_PATH_PREFIX);
}

/**
 * One client per bucket settings, kept for the process: its connections are reused by the next run
 * of a warm function or of `npm start` (idle ones do not hold the process open).
 */
const clients = new Map<string, Promise<S3Client>>();

/** The SDK client for `settings`, created on first use. */
export function s3ClientFor(settings: S3Settings): Promise<S3Client> {
  const id = JSON.stringify([settings.endpoint, settings.region, settings.forcePathStyle, settings.timeoutMs, settings.accessKeyId,
    createHash("sha256").update(settings.secretAccessKey).digest("hex")]);
  let client = clients.get(id);
  if (!client) {
    client = import("@aws-sdk/client-s3").then(({ S3Client }) =>
      new S3Client({
        region: settings.region,
        endpoint: settings.endpoint,
        forcePathStyle: settings.forcePathStyle,
        // Given here, so the SDK never falls back to its own sources: on Vercel and Netlify the
        // AWS_* variables and the instance's role belong to the platform, not to this bucket.
        credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
        ignoreConfiguredEndpointUrls: true,
        useFipsEndpoint: false,
        useDualstackEndpoint: false,
        maxAttempts: 3,
        // The SDK's default since January 2025 adds CRC32 checksums to every upload, which several
        // S3-compatible stores refuse or mishandle; checksums only where the API requires them.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        // Without these the SDK waits for a silent store for ever; a stalled import must fail instead.
        requestHandler: { connectionTimeout: settings.timeoutMs, socketTimeout: settings.timeoutMs },
      }),
    );
    clients.set(id, client);
  }
  return client;
}

/** The SDK's error in one line naming the operation and key (its messages carry no credential). */
function s3Error(operation: string, key: string, err: unknown): Error {
  const e = err as { name?: string; message?: string; code?: string; errors?: { message?: string }[]; $metadata?: { httpStatusCode?: number } };
  // A refused connection on a dual-stack host is an AggregateError whose own message is empty.
  const message = e.message || e.errors?.map((x) => x.message).find(Boolean) || e.code || "unknown error";
  const status = e.$metadata?.httpStatusCode;
  const name = e.name && e.name !== "Error" && !message.startsWith(e.name) ? `${e.name}: ` : "";
  return new Error(`bucket ${operation} of ${key} failed: ${name}${message}${status ? ` (HTTP ${status})` : ""}`, { cause: err });
}
