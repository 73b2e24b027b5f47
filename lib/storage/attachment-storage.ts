// Where attachment content lives. The default is a local directory; a blob store can replace it by
// implementing the same two calls. Paths handed out are keys relative to the store, never absolute.

import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface AttachmentStorage {
  /**
   * Writes `content` under `key`, replacing what was there (a retried import rewrites the same key
   * instead of leaving an orphan). The content becomes visible only once complete: a failed or
   * aborted stream leaves nothing behind. Resolves to the path to store in `file_path`.
   */
  put(key: string, content: Readable | Buffer): Promise<{ path: string; sizeBytes: number }>;
  /** Reads back what `put` stored under `path`. */
  open(path: string): Readable;
}

/**
 * A key is a relative path of plain segments: letters, digits, `.`, `_`, `-`, separated by `/`.
 * Anything else (absolute paths, `..`, backslashes, NUL, empty segments) is refused, so no key can
 * name a file outside the store whatever its origin.
 */
const SAFE_KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const MAX_KEY_LENGTH = 512;

/** The store in a local directory (created on first write). */
export function createLocalStorage(dir: string): AttachmentStorage {
  const root = resolve(dir);
  const fileFor = (key: string): string => {
    if (key.length > MAX_KEY_LENGTH || !SAFE_KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
      throw new Error(`unsafe attachment storage key: ${JSON.stringify(key.slice(0, 80))}`);
    }
    const file = resolve(root, key);
    if (!file.startsWith(root + sep)) throw new Error("attachment storage key escapes the storage directory");
    return file;
  };

  return {
    async put(key, content) {
      const file = fileFor(key);
      await mkdir(dirname(file), { recursive: true });
      // Written beside the final name, then renamed: a rename within a directory is atomic, so a
      // reader never sees half a file and two concurrent imports of one message do not interleave.
      const partial = `${file}.${randomUUID()}.part`;
      try {
        if (Buffer.isBuffer(content)) await writeFile(partial, content);
        else await pipeline(content, createWriteStream(partial));
        const { size } = await stat(partial);
        await rename(partial, file);
        return { path: key, sizeBytes: size };
      } catch (err) {
        await rm(partial, { force: true });
        throw err;
      }
    },
    open(path) {
      return createReadStream(fileFor(path));
    },
  };
}
