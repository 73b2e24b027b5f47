// Writes attachment content (a stream) into the storage under keys derived from the message's dedupe key,
// so a retried or repeated import of one message writes the same files instead of new ones. Content
// over the size limit is measured to its end but not kept.

import { createHash } from "node:crypto";
import { type Readable, Transform, type TransformCallback } from "node:stream";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import type { AttachmentSink } from "./parse-message.js";

/** The storage folder of one message's attachments: `attachments/<integration>/<sha-256 of the dedupe key>`. */
export function attachmentKeyPrefix(integrationId: number, dedupeKey: string): string {
  return `attachments/${integrationId}/${createHash("sha256").update(dedupeKey).digest("hex").slice(0, 40)}`;
}

/**
 * A file name reduced to `[A-Za-z0-9._-]` for use in a storage key: accents folded, everything
 * else (slashes, dots at the start, `..`) replaced, so a hostile name such as `../../etc/passwd`
 * cannot leave the message's folder.
 */
export function safeFileName(name: string): string {
  const folded = name.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  const safe = folded.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._-]+/, "").replace(/\.{2,}/g, ".").slice(0, 80);
  return safe || "file";
}

/** A sink for `parseMessage` that stores each attachment of one message. */
export function createAttachmentSaver(
  storage: AttachmentStorage,
  options: { keyPrefix: string; maxAttachmentBytes: number },
): AttachmentSink {
  return async (attachment, content) => {
    const key = `${options.keyPrefix}/${attachment.index}-${safeFileName(attachment.fileName)}`;
    const limiter = new SizeLimiter(options.maxAttachmentBytes);
    // Its error (over the limit) can fire before the store starts reading (it may first create a
    // folder); the store still sees it, and `isOverLimit` says what happened.
    limiter.on("error", () => {});
    const feeding = feed(content, limiter);
    try {
      const { path } = await storage.put(key, limiter);
      await feeding;
      return { path, sizeBytes: limiter.sizeBytes };
    } catch (err) {
      limiter.destroy(); // a store that failed before reading must not leave `feed` waiting for a drain
      await feeding;
      if (limiter.isOverLimit) return { path: null, sizeBytes: limiter.sizeBytes };
      throw err;
    }
  };
}

/** Passes bytes through up to a limit, then only counts them and fails at the end. */
class SizeLimiter extends Transform {
  sizeBytes = 0;
  isOverLimit = false;
  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.sizeBytes += chunk.length;
    if (this.sizeBytes > this.maxBytes) this.isOverLimit = true;
    done(null, this.isOverLimit ? undefined : chunk);
  }

  override _flush(done: TransformCallback): void {
    done(this.isOverLimit ? new Error(`attachment over ${this.maxBytes} bytes`) : null);
  }
}

/**
 * Copies the parser's stream into `target` by hand: if storage fails and destroys `target`, the
 * parser's stream is still read to its end, or the parser would wait for it forever.
 */
async function feed(source: Readable, target: Transform): Promise<void> {
  try {
    for await (const chunk of source) {
      if (target.destroyed) continue;
      if (!target.write(chunk)) await drainedOrClosed(target);
    }
    if (!target.destroyed) target.end();
  } catch (err) {
    target.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

function drainedOrClosed(stream: Transform): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}
