// Where attachment content (and the raw bytes of set-aside messages) lives: a local directory, the
// database itself on platforms whose disk does not outlive a request, or an S3-API bucket
// (s3-storage.ts). Paths handed out are keys, never absolute paths, prefixed with `db:` or `s3://`
// outside the directory, so a path read back says which store holds it.

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
import { createS3Storage, isS3Path } from "./s3-storage.js";
import { type AttachmentStorage, assertSafeKey } from "./store-contract.js";

export type { AttachmentStorage } from "./store-contract.js";

/** Paths of the database store start with this, so a reader can tell where content lives. */
export const DATABASE_PATH_PREFIX = "db:";

/**
 * Writes go to the store the configuration names; reads and deletes go to the store a path names,
 * so files written before a change of store (or not yet moved to the bucket) stay readable.
 */
export function attachmentStorageFor(config: Config, db: Db): AttachmentStorage {
  const database = createDatabaseStorage(db);
  const local = createLocalStorage(config.attachmentsDir);
  const bucket = config.s3 ? createS3Storage(config.s3) : undefined;
  const storeOf = (path: string): AttachmentStorage => {
    if (path.startsWith(DATABASE_PATH_PREFIX)) return database;
    if (!isS3Path(path)) return local;
    if (!bucket) throw new Error("this file is in a bucket, and no bucket is configured (S3_BUCKET)");
    return bucket;
  };
  const writer = config.attachmentsStorage === "s3" ? bucket : config.attachmentsStorage === "database" ? database : local;
  if (!writer) throw new Error("ATTACHMENTS_STORAGE=s3 without a bucket");
  return {
    put: (key, content) => writer.put(key, content),
    open: (path) => storeOf(path).open(path),
    remove: (path) => storeOf(path).remove(path),
  };
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

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
