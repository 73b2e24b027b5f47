// Where attachment content (and the raw bytes of set-aside messages) lives: a local directory, or
// the database itself on platforms whose disk does not outlive a request. A blob store can replace
// either by implementing the same two calls. Paths handed out are keys, never absolute paths.

import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { eq, sql } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { storedFiles } from "../db/schema.js";

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

/** Paths of the database store start with this, so a reader can tell where content lives. */
const DATABASE_PATH_PREFIX = "db:";

/** The store the configuration names: a local directory, or the database itself. */
export function attachmentStorageFor(config: Config, db: Db): AttachmentStorage {
  return config.attachmentsStorage === "database" ? createDatabaseStorage(db) : createLocalStorage(config.attachmentsDir);
}

/** The store in a local directory (created on first write). */
export function createLocalStorage(dir: string): AttachmentStorage {
  const root = resolve(dir);
  const fileFor = (key: string): string => {
    assertSafeKey(key);
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
        let size: number;
        if (Buffer.isBuffer(content)) {
          await writeFile(partial, content);
          size = content.length;
        } else {
          await pipeline(content, createWriteStream(partial));
          size = (await stat(partial)).size;
        }
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
    async remove(path) {
      await rm(fileFor(path), { force: true });
    },
  };
}

/**
 * The store in the `stored_files` table: for platforms without a lasting disk. Content is read
 * into memory before the write; its size is already bounded by MAX_ATTACHMENT_BYTES (attachments)
 * and MAX_MESSAGE_BYTES (set-aside raw messages). One upsert: a retried import rewrites its key.
 */
export function createDatabaseStorage(db: Db): AttachmentStorage {
  return {
    async put(key, content) {
      assertSafeKey(key);
      const bytes = Buffer.isBuffer(content) ? content : await collect(content);
      await db
        .insert(storedFiles)
        .values({ key, content: bytes, sizeBytes: bytes.length })
        .onConflictDoUpdate({ target: storedFiles.key, set: { content: sql`excluded.content`, sizeBytes: bytes.length } });
      return { path: `${DATABASE_PATH_PREFIX}${key}`, sizeBytes: bytes.length };
    },
    open(path) {
      if (!path.startsWith(DATABASE_PATH_PREFIX)) throw new Error("not a path of the database attachment store");
      const key = path.slice(DATABASE_PATH_PREFIX.length);
      return Readable.from(
        (async function* () {
          const [row] = await db.select({ content: storedFiles.content }).from(storedFiles).where(eq(storedFiles.key, key));
          if (!row) throw new Error(`no stored content for ${JSON.stringify(key.slice(0, 80))}`);
          yield row.content;
        })(),
      );
    },
    async remove(path) {
      if (!path.startsWith(DATABASE_PATH_PREFIX)) throw new Error("not a path of the database attachment store");
      await db.delete(storedFiles).where(eq(storedFiles.key, path.slice(DATABASE_PATH_PREFIX.length)));
    },
  };
}

function assertSafeKey(key: string): void {
  if (key.length > MAX_KEY_LENGTH || !SAFE_KEY.test(key) || key.split("/").some((s) => s === "." || s === "..")) {
    throw new Error(`unsafe attachment storage key: ${JSON.stringify(key.slice(0, 80))}`);
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
