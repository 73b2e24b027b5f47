// Uploads a stream to a bucket in parts of PART_SIZE_BYTES, through one buffer of that size filled
// and sent in turn: one object in flight holds 5 MiB whatever its size.
//
// Our own rather than @aws-sdk/lib-storage's `Upload`: that helper joins the pieces it reads with
// Buffer.concat into a new buffer for every part, whose remainder keeps it alive, and leaves those
// copies to the garbage collector. An import of 20 messages of 19 MB through it peaked at 212–218 MB,
// through this at 193–204 MB, and at 177–181 MB into a directory (bench/README.md). Reusing one buffer
// leaves no copy behind; the protocol (create, parts, complete, abort on failure) is the SDK's own
// commands, each retried by the SDK (a part's body is a Buffer, so a retry resends the same bytes).

import type { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { releaseBuffer } from "../release-memory.js";

/**
 * Bytes of one part. 5 MiB is S3's smallest part (but the last); 10,000 parts (S3's limit) still
 * reach 50 GB, far above MAX_ATTACHMENT_BYTES and MAX_MESSAGE_BYTES.
 */
export const PART_SIZE_BYTES = 5 * 1024 * 1024;

/** Raised for the store's failures, so the caller tells them from the source's own. */
export class StoreError extends Error {
  constructor(readonly operation: string, cause: unknown) {
    super(operation, { cause });
  }
}

/**
 * Writes `content` under `key`: one PutObject when it fits in a part, else a multipart upload,
 * aborted when anything fails (the object then does not change). Returns the bytes written. The
 * source's errors are thrown as they are; the store's as `StoreError`.
 */
export async function uploadInParts(client: S3Client, bucket: string, key: string, content: Readable | Buffer): Promise<number> {
  const sdk = await import("@aws-sdk/client-s3");
  const send = async <T>(operation: string, request: Promise<T>): Promise<T> => {
    try {
      return await request;
    } catch (err) {
      throw new StoreError(operation, err);
    }
  };
  let uploadId: string | undefined;
  const parts: { PartNumber: number; ETag?: string }[] = [];
  const sendPart = async (body: Buffer) => {
    uploadId ??= (await send("upload", client.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key })))).UploadId;
    const PartNumber = parts.length + 1;
    const { ETag } = await send("upload", client.send(new sdk.UploadPartCommand({
      Bucket: bucket, Key: key, UploadId: uploadId, PartNumber, Body: body, ContentLength: body.length,
    })));
    parts.push({ PartNumber, ETag });
  };

  try {
    let sizeBytes = 0;
    let filled = 0;
    // Its own memory (never Node's shared pool), so that it can be given back at the end.
    const part = Buffer.isBuffer(content) ? null : Buffer.allocUnsafeSlow(PART_SIZE_BYTES);
    if (Buffer.isBuffer(content)) {
      // Already whole in memory: its parts are views of it, nothing copied.
      sizeBytes = content.length;
      for (let at = 0; at + PART_SIZE_BYTES < content.length; at += PART_SIZE_BYTES) await sendPart(content.subarray(at, at + PART_SIZE_BYTES));
    } else {
      for await (const chunk of content as AsyncIterable<Buffer>) {
        sizeBytes += chunk.length;
        for (let at = 0; at < chunk.length;) {
          // A full part is sent once more bytes come: the last part may be the whole object.
          if (filled === PART_SIZE_BYTES) {
            await sendPart(part!);
            filled = 0;
          }
          const copied = chunk.copy(part!, filled, at);
          filled += copied;
          at += copied;
        }
      }
    }
    const last = part ? part.subarray(0, filled) : (content as Buffer).subarray(parts.length * PART_SIZE_BYTES);
    if (uploadId === undefined) {
      await send("upload", client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: last, ContentLength: last.length })));
      if (part) releaseBuffer(part);
      return sizeBytes;
    }
    await sendPart(last);
    await send("upload", client.send(new sdk.CompleteMultipartUploadCommand({
      Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts },
    })));
    // Every request that read the part has been answered: its 5 MiB go back now, not at the next
    // full collection (measured: 204–210 MB → 193–204 MB at the 20 × 19 MB import's peak).
    if (part) releaseBuffer(part);
    return sizeBytes;
  } catch (err) {
    // The parts sent so far are deleted; should the store be gone, its lifecycle rule does it
    // (docs/deploying.md, "Attachments on Vercel and Netlify").
    if (uploadId !== undefined) await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => {});
    throw err;
  }
}
