// What every attachment store (a directory, the database, a bucket) implements, and the one rule
// for the keys they are given.

import type { Readable } from "node:stream";

export interface AttachmentStorage {
  /**
   * Writes `content` under `key`, replacing what was there (a retried import rewrites the same key
   * instead of leaving an orphan). The content becomes visible only once complete: a failed or
   * aborted stream leaves nothing behind. Resolves to the path to store in `file_path`.
   */
  put(key: string, content: Readable | Buffer): Promise<{ path: string; sizeBytes: number }>;
  /** Reads back what `put` stored under `path`. */
  open(path: string): Readable;
  /** Deletes what `put` stored under `path`; nothing there is not an error. */
  remove(path: string): Promise<void>;
}

/**
 * A key is a relative path of plain segments: letters, digits, `.`, `_`, `-`, separated by `/`.
 * Anything else (absolute paths, `..`, backslashes, NUL, empty segments) is refused, so no key can
 * name a file outside the store whatever its origin.
 */
const SAFE_KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const MAX_KEY_LENGTH = 512;

/** Throws unless `key` is a safe storage key (above). */
export function assertSafeKey(key: string): void {
  if (key.length > MAX_KEY_LENGTH || !SAFE_KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
    throw new Error(`unsafe attachment storage key: ${JSON.stringify(key.slice(0, 80))}`);
  }
}
