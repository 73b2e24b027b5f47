// Sets a message aside when it cannot be imported: its raw bytes are kept in storage and a row in
// `inbox_quarantine` says why, so the sync can move past it and someone can re-import it later.

import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { retryTransient } from "../db/retry-transient.js";
import { inboxQuarantine, type MessageDirection } from "../db/schema.js";
import { shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import type { StoredMessageKey } from "./mail-source.js";

/** A message set aside, keyed in its folder by its UID (IMAP) or its source's id. */
export type QuarantinedMessage = StoredMessageKey & {
  integrationId: number;
  folder: string;
  /** The folder's direction, so a re-import stores it the way the sync would have. */
  direction: MessageDirection;
  /** The bytes that were downloaded (null when the server sent none). */
  source: Buffer | null;
  sizeBytes: number;
};

/**
 * Records `message` as set aside with `reason`. Setting the same message aside again (a resync)
 * counts one more attempt and keeps the latest reason. A busy database is tried again a few times.
 * Throws only when the database write fails: the caller must then not move its cursor past the message.
 */
export async function quarantineMessage(
  db: Db,
  message: QuarantinedMessage,
  reason: string,
  deps: { storage: AttachmentStorage; now: Date; log: Logger },
): Promise<void> {
  const rawPath = await saveRaw(message, deps);
  const storedReason = shortReason(reason, 500);
  // Repeatable: a retry after a lost connection lands on the same row (the upsert).
  await retryTransient(() => upsertQuarantineRow(db, message, storedReason, rawPath, deps.now), { log: deps.log });
  deps.log.warn("message set aside", { uid: message.uid, sourceMessageId: message.sourceMessageId, folder: message.folder, reason: storedReason });
}

async function upsertQuarantineRow(db: Db, message: QuarantinedMessage, reason: string, rawPath: string | null, now: Date): Promise<void> {
  await db
    .insert(inboxQuarantine)
    .values({
      integrationId: message.integrationId,
      folder: message.folder,
      direction: message.direction,
      uidValidity: message.uidValidity ?? null,
      uid: message.uid ?? null,
      sourceMessageId: message.sourceMessageId ?? null,
      reason,
      rawPath,
      sizeBytes: message.sizeBytes,
      updatedAt: now,
    })
    .onConflictDoUpdate({
      target: message.sourceMessageId === undefined
        ? [inboxQuarantine.integrationId, inboxQuarantine.folder, inboxQuarantine.uidValidity, inboxQuarantine.uid]
        : [inboxQuarantine.integrationId, inboxQuarantine.folder, inboxQuarantine.sourceMessageId],
      set: {
        reason,
        rawPath: sql`coalesce(excluded.raw_path, ${inboxQuarantine.rawPath})`,
        attempts: sql`${inboxQuarantine.attempts} + 1`,
        updatedAt: now,
      },
    });
}

/** Stores the raw bytes; a storage failure must not stop the message from being set aside. */
async function saveRaw(message: QuarantinedMessage, deps: { storage: AttachmentStorage; log: Logger }): Promise<string | null> {
  if (!message.source) return null;
  // A source's id is long and may hold characters a storage key should not: its hash names the file.
  const where = message.sourceMessageId === undefined
    ? [String(message.uidValidity), `${message.uid}.eml`]
    : ["id", `${createHash("sha256").update(message.sourceMessageId).digest("hex").slice(0, 32)}.eml`];
  const key = ["quarantine", String(message.integrationId), folderKey(message.folder), ...where].join("/");
  try {
    return (await deps.storage.put(key, message.source)).path;
  } catch (err) {
    deps.log.warn("raw message of a set-aside message could not be stored", { uid: message.uid, sourceMessageId: message.sourceMessageId, err: shortReason(err) });
    return null;
  }
}

/** A storage-safe segment for a folder name ("INBOX" stays "INBOX"; "Entwürfe" gets a hash suffix). */
function folderKey(folder: string): string {
  const safe = folder.replace(/[^A-Za-z0-9_-]/g, "_");
  if (safe === folder && safe.length > 0) return safe;
  return `${safe.slice(0, 40)}-${createHash("sha256").update(folder).digest("hex").slice(0, 12)}`;
}
