// Moves the files of the database store (`stored_files`) into the bucket. Each file is uploaded
// with its MD5 (the store refuses altered bytes) and its SHA-256 in the object's metadata, then read
// back and compared, size and SHA-256, before anything in the database changes; then, in one
// transaction, the rows naming it (`message_attachments.file_path`, `inbox_quarantine.raw_path`) are
// pointed at the bucket and its database copy is deleted, provided that copy is still the one
// verified. Cut anywhere, each file is either where it was, its rows unchanged, or moved, its rows
// pointing at the bucket; the next run takes up what is left, without uploading again a file the
// bucket already holds whole.

import { createHash } from "node:crypto";
import { count, eq, gt, inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { inboxQuarantine, messageAttachments, storedFiles } from "../db/schema.js";
import type { Logger } from "../log.js";
import { shortReason } from "../errors.js";
import { DATABASE_PATH_PREFIX } from "./attachment-storage.js";
import { type BucketStorage, S3_PATH_PREFIX } from "./s3-storage.js";

/** Files verified before their rows change in one transaction: a cut repeats at most this many checks. */
export const DEFAULT_MOVE_BATCH_FILES = 50;

export interface MoveSummary {
  /** Files now in the bucket only, their rows pointing there. */
  moved: number;
  movedBytes: number;
  /** Of those, files the bucket already held whole from a run that was cut (not uploaded again). */
  alreadyUploaded: number;
  /** Files whose copy in the bucket did not read back as sent: kept in the database, rows unchanged. */
  failed: { key: string; reason: string }[];
  /** Why the run stopped before the end (the bucket or the database failing), if it did. */
  stoppedBy?: string;
  /** Files still in the database store afterwards. */
  remaining: number;
}

export interface MoveOptions {
  log: Logger;
  /** Files verified per transaction (default DEFAULT_MOVE_BATCH_FILES). */
  batchFiles?: number;
  /** Told after each transaction: the files moved so far. */
  onProgress?: (progress: { moved: number; movedBytes: number }) => void;
}

/** A file whose copy in the bucket is not what was sent. */
class VerificationError extends Error {}

/** Verified copy of one file: what its database row must still hold for the move to go through. */
interface VerifiedCopy {
  key: string;
  sizeBytes: number;
  sha256: string;
  wasUploaded: boolean;
}

/** Moves every file of `stored_files` into `bucket` (see the top of this file). */
export async function moveStoredFilesToBucket(db: Db, bucket: BucketStorage, options: MoveOptions): Promise<MoveSummary> {
  const batchFiles = options.batchFiles ?? DEFAULT_MOVE_BATCH_FILES;
  const summary: MoveSummary = { moved: 0, movedBytes: 0, alreadyUploaded: 0, failed: [], remaining: 0 };
  let after = "";
  while (summary.stoppedBy === undefined) {
    const keys = await db.select({ key: storedFiles.key }).from(storedFiles)
      .where(gt(storedFiles.key, after)).orderBy(storedFiles.key).limit(batchFiles);
    if (keys.length === 0) break;
    after = keys.at(-1)!.key;
    const verified: VerifiedCopy[] = [];
    for (const { key } of keys) {
      try {
        const copy = await copyAndVerify(db, bucket, key);
        if (copy) verified.push(copy);
      } catch (err) {
        if (!(err instanceof VerificationError)) {
          summary.stoppedBy = shortReason(err);
          break;
        }
        summary.failed.push({ key, reason: err.message });
        options.log.warn("file not moved to the bucket", { key, reason: err.message });
      }
    }
    // What was verified before a failure is moved all the same.
    try {
      for (const copy of await pointRowsAtBucket(db, bucket, verified)) {
        summary.moved++;
        summary.movedBytes += copy.sizeBytes;
        if (!copy.wasUploaded) summary.alreadyUploaded++;
      }
    } catch (err) {
      summary.stoppedBy ??= shortReason(err);
    }
    options.onProgress?.({ moved: summary.moved, movedBytes: summary.movedBytes });
  }
  const [left] = await db.select({ n: count() }).from(storedFiles);
  summary.remaining = left?.n ?? 0;
  return summary;
}

/**
 * Puts the file `key` in the bucket (unless the bucket already holds it whole, its SHA-256 in the
 * object's metadata) and reads it back. Null when the file left the database meanwhile.
 */
async function copyAndVerify(db: Db, bucket: BucketStorage, key: string): Promise<VerifiedCopy | null> {
  const [row] = await db.select({ content: storedFiles.content }).from(storedFiles).where(eq(storedFiles.key, key));
  if (!row) return null;
  const sizeBytes = row.content.length;
  const sha256 = createHash("sha256").update(row.content).digest("hex");
  const existing = await bucket.describe(key);
  const wasUploaded = !(existing?.sizeBytes === sizeBytes && existing.sha256 === sha256);
  if (wasUploaded) await bucket.putVerifiable(key, row.content, sha256);
  // Read back in full: the metadata only says what was sent, the bytes say what was kept.
  const kept = await bucket.digest(key);
  if (kept.sizeBytes !== sizeBytes || kept.sha256 !== sha256) {
    throw new VerificationError(`the bucket's copy reads back as ${kept.sizeBytes} bytes, SHA-256 ${kept.sha256.slice(0, 12)}…, ` +
      `not ${sizeBytes} bytes, SHA-256 ${sha256.slice(0, 12)}…`);
  }
  return { key, sizeBytes, sha256, wasUploaded };
}

/**
 * In one transaction: the verified files whose database copy is still the one verified (locked,
 * hashed by the database) get their rows pointed at the bucket and their copy deleted. A file
 * rewritten meanwhile (a retried import) is left for the next run. Returns the files moved.
 */
async function pointRowsAtBucket(db: Db, bucket: BucketStorage, verified: VerifiedCopy[]): Promise<VerifiedCopy[]> {
  if (verified.length === 0) return [];
  return db.transaction(async (tx) => {
    const current = await tx
      .select({ key: storedFiles.key, sha256: sql<string>`encode(sha256(${storedFiles.content}), 'hex')` })
      .from(storedFiles)
      .where(inArray(storedFiles.key, verified.map((v) => v.key)))
      .for("update");
    const unchanged = new Set(current.map((c) => `${c.key}\n${c.sha256}`));
    const movable = verified.filter((v) => unchanged.has(`${v.key}\n${v.sha256}`));
    if (movable.length === 0) return [];
    const databasePaths = movable.map((v) => `${DATABASE_PATH_PREFIX}${v.key}`);
    // `db:<key>` becomes `s3://<bucket>/<key>`: the key follows the 3-character prefix.
    const bucketPrefix = `${S3_PATH_PREFIX}${bucket.bucket}/`;
    const keyFrom = (column: typeof messageAttachments.filePath | typeof inboxQuarantine.rawPath) =>
      sql`${bucketPrefix} || substr(${column}, ${DATABASE_PATH_PREFIX.length + 1})`;
    await tx.update(messageAttachments).set({ filePath: keyFrom(messageAttachments.filePath) })
      .where(inArray(messageAttachments.filePath, databasePaths));
    await tx.update(inboxQuarantine).set({ rawPath: keyFrom(inboxQuarantine.rawPath) })
      .where(inArray(inboxQuarantine.rawPath, databasePaths));
    await tx.delete(storedFiles).where(inArray(storedFiles.key, movable.map((v) => v.key)));
    return movable;
  });
}
