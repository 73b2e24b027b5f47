// Where an integration's mail comes from, seen by the sync: the mailbox's folders with their role,
// the changes of a folder since its cursor (new messages, in batches, with their raw MIME), the
// cursor moved once their rows are written. IMAP is one source (`imap/imap-source.ts`); everything
// after the raw message (parse, dedupe, threading, effects, attachments, quarantine) is shared and
// never asks which source the bytes came from.

import type { Db } from "../db/client.js";
import type { FolderRole, MessageDirection } from "../db/schema.js";
import type { Logger } from "../log.js";

/**
 * Content bytes a batch holds, at most (one bigger message comes alone): the import holds a batch
 * being stored and one read ahead, so memory stays bounded whatever the source.
 */
export const BATCH_MAX_BYTES = 4 * 1024 * 1024;
/**
 * Messages per batch, at most: the cursor moves after each, so a failure repeats at most this many
 * (the ones stored are recognised in one query). A batch's rows cost a fixed number of statements
 * whatever its size (`message-rows.ts`), so small mail comes in batches of many; BATCH_MAX_BYTES cuts
 * a batch first as soon as messages average over 40 kB (4 MB rather than 8: the same speed on the
 * 3,000-message bench, 10–20 MB less at the peak).
 */
export const BATCH_MAX_MESSAGES = 100;

/** One folder to sync: where it is in the mailbox, its role, and which way its mail goes. */
export interface SyncedFolder {
  path: string;
  role: FolderRole;
  direction: MessageDirection;
}

/** Which messages a first sync (or a resync) reads: the recent window. */
export interface WindowRule {
  /** Messages received in the last `sinceDays` days… */
  sinceDays: number;
  /** …and at most the newest `maxMessages` of them. */
  maxMessages: number;
}

/**
 * A message's key in its folder: IMAP's UID (a positive integer growing with arrival, valid within
 * the folder's epoch), or the id a source without UIDs gives it (Graph's immutable id).
 */
export type MessageKey = { uid: number; sourceMessageId?: undefined } | { uid?: undefined; sourceMessageId: string };

/**
 * The key a stored message or a set-aside one keeps: the UID with its folder's UIDVALIDITY (the
 * columns the app reads), or the source's id (`uidvalidity` and `uid` then stay null).
 */
export type StoredMessageKey =
  | { uidValidity: number; uid: number; sourceMessageId?: undefined }
  | { uidValidity?: undefined; uid?: undefined; sourceMessageId: string };

/** `key` as one string, to tell messages apart in sets and maps whatever their source. */
export function messageKeyText(key: MessageKey): string {
  return key.sourceMessageId !== undefined ? `id:${key.sourceMessageId}` : `uid:${key.uid}`;
}

/** The stored key of message `key` of a folder at `epoch`. */
export function storedKeyOf(key: MessageKey, epoch: number): StoredMessageKey {
  return key.sourceMessageId !== undefined ? { sourceMessageId: key.sourceMessageId } : { uidValidity: epoch, uid: key.uid };
}

/** What the source says about a message before its content. */
export type MessageMeta = MessageKey & {
  sizeBytes: number;
  /** When the mailbox received it (IMAP: INTERNALDATE; Graph: receivedDateTime). */
  internalDate: Date | null;
  /** The thread the source filed it in, when it has threads of its own (Gmail's `threadId`). */
  sourceThreadId?: string;
};

/** A message read: its raw MIME, or only its header block when `isOversize`. */
export type FetchedMessage = MessageMeta & {
  source: Buffer | null;
  isOversize: boolean;
};

/**
 * Where a folder's cursor goes once a batch is stored, opaque to the shared code: IMAP's last UID,
 * or another source's own cursor (Graph's nextLink or deltaLink).
 */
export type CursorPosition = number | string;

/** A batch of changes, and the cursor position once it is stored. */
export interface DownloadedBatch {
  /** In key order; may be empty, only to move the cursor. */
  messages: FetchedMessage[];
  /** The batch comes from the recent window of a first sync or resync (see `backfill-rule.ts`). */
  isBackfill: boolean;
  /** The cursor's position once the batch is stored (past keys that vanished meanwhile, too). */
  position: CursorPosition;
  /** Bytes of content held (the sources' lengths). */
  bytes: number;
}

/** A mailbox open for reading (one session of its transport). */
export interface MailSource {
  /** The folders of `roles` the mailbox has, in sync order (INBOX first); a role it lacks is left out. */
  listFolders(roles: readonly FolderRole[]): Promise<SyncedFolder[]>;
  /**
   * Opens a folder read-only and reads its stored cursor: started (first sync) or restarted (the
   * folder's epoch changed) on the recent window when needed. Throws a JobError when the folder
   * cannot be read or the run lost its lease. The caller closes it.
   */
  openFolder(folder: Pick<SyncedFolder, "path">, reading: FolderReading): Promise<SourceFolder>;
}

/** What opening a folder needs: the cursor is stored in the database under the run's lease. */
export interface FolderReading {
  db: Db;
  integrationId: number;
  /** The lease holder: cursor moves fail once another run owns the integration. */
  owner: string;
  now: () => Date;
  log: Logger;
  rule: WindowRule;
  /** Larger messages come with their header block only (`isOversize`). */
  maxMessageBytes: number;
}

/** One folder open for reading, from its cursor on. */
export interface SourceFolder {
  /**
   * The epoch the folder's UIDs belong to (IMAP: UIDVALIDITY), stored with each message: a UID of
   * another epoch is another message. Unused by sources whose keys are ids (0).
   */
  readonly epoch: number;
  /** Nothing after the cursor: no change to read. */
  readonly isCaughtUp: boolean;
  /**
   * The changes after the cursor, batch by batch in the source's order (the recent window first, then what is
   * new), each within BATCH_MAX_MESSAGES and BATCH_MAX_BYTES. Ends when nothing is left, or when
   * `shouldStop` says so before a download.
   */
  readChanges(shouldStop: () => boolean): AsyncGenerator<DownloadedBatch>;
  /** Moves the stored cursor forward to `position` (a batch's, once its rows are in); throws when the lease is lost. */
  advanceCursor(position: CursorPosition): Promise<void>;
  /** A message's raw MIME read again (null when the folder no longer has it). */
  fetchRaw(message: MessageMeta): Promise<Buffer | null>;
  /** Ends reading the folder. */
  close(): void;
}
