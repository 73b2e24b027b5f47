// A short-lived address from which a browser downloads one file of the bucket store directly: the
// app hands it out instead of relaying the bytes, and nothing else in the bucket is reachable by it.

import type { Config } from "../config.js";
import { keyOfS3Path, s3ClientFor } from "./s3-storage.js";

/** How long a signed address works by default, and at most (it is a bearer credential for that file). */
export const DEFAULT_SIGNED_URL_SECONDS = 300;
export const MAX_SIGNED_URL_SECONDS = 3600;

export interface SignedUrlOptions {
  /** Lifetime in seconds, 1 to MAX_SIGNED_URL_SECONDS (default DEFAULT_SIGNED_URL_SECONDS). */
  expiresInSeconds?: number;
  /** The instant the address is signed at (default: now); it works until `expiresInSeconds` later. */
  now?: Date;
  /** Served as a download under this name (`message_attachments.name`). */
  fileName?: string;
  /** Served with this type (`message_attachments.mime_type`). */
  mimeType?: string;
}

/**
 * A presigned GET (AWS Signature V4 in the query string) of the object `filePath` names
 * (`s3://<bucket>/<key>`, a `message_attachments.file_path` or `inbox_quarantine.raw_path`).
 * Throws when no bucket is configured or the path is not one of its objects. The address grants
 * that one file until it expires: hand it to the user it is for, never log it.
 */
export async function signedAttachmentUrl(config: Config, filePath: string, options: SignedUrlOptions = {}): Promise<string> {
  if (!config.s3) throw new Error("no bucket is configured (S3_BUCKET)");
  const key = keyOfS3Path(config.s3.bucket, filePath);
  const expiresIn = options.expiresInSeconds ?? DEFAULT_SIGNED_URL_SECONDS;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_SIGNED_URL_SECONDS) {
    throw new Error(`expiresInSeconds must be a whole number from 1 to ${MAX_SIGNED_URL_SECONDS}`);
  }
  const [client, { GetObjectCommand }, { getSignedUrl }] = await Promise.all([
    s3ClientFor(config.s3),
    import("@aws-sdk/client-s3"),
    import("@aws-sdk/s3-request-presigner"),
  ]);
  const command = new GetObjectCommand({
    Bucket: config.s3.bucket,
    Key: key,
    // Part of the signed query, so the holder of the address cannot change them.
    ResponseContentDisposition: options.fileName === undefined ? undefined : contentDisposition(options.fileName),
    ResponseContentType: options.mimeType,
  });
  return getSignedUrl(client, command, { expiresIn, signingDate: options.now });
}

/** `attachment` with the name in RFC 6266 form; beyond plain ASCII, an ASCII fallback then the UTF-8 name (RFC 8187). */
function contentDisposition(fileName: string): string {
  if (/^[\x20-\x7e]+$/.test(fileName) && !/["\\]/.test(fileName)) return `attachment; filename="${fileName}"`;
  const ascii = fileName.normalize("NFKD").replace(/[^\x20-\x7e]/g, "").replace(/["\\]/g, "_") || "file";
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
