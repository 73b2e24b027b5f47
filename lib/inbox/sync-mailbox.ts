/**
 * Imports the new mail of one folder of one integration from its mail source (`mail-source.ts`).
 * The folder comes with its direction: its messages are stored as mail to the business (INBOX) or
 * from it (Sent); the rules below are the same for both, and for every source.
 *
 * - The source reads the changes after the folder's cursor (the recent window first on a first
 *   sync, or when the folder's epoch changed), in small batches; the cursor moves once their rows
 *   are written (about a hundred messages at a time), so a crash or a stall repeats at most that
 *   many, and the dedupe keys make a repeat harmless.
 *   The next batch downloads while this one is stored (`read-ahead.ts`, bounded in bytes); how a
 *   batch is stored is in `import-batch.ts`.
 * - A message that cannot be stored is set aside with its reason and the sync goes on after it.
 *   When the fault is not the message's (attachment storage down, the database busy or unreachable
 *   after a few tries), the folder stops before it instead, to retry next run: only what is wrong
 *   with the message itself is set aside.
 * - Stops downloading batches when the run budget is nearly spent and says so (`hasMore`); the
 *   batch in hand and the one downloaded ahead are stored.
 */

import type { Db } from "../db/client.js";
import type { MessageDirection } from "../db/schema.js";
import { boundHeapGrowth, releaseIfAlone } from "../release-memory.js";
import type { ClaimedIntegration } from "./claim-integrations.js";
import type { Budget } from "../jobs/budget.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import { type KeyedBatch, keyBatch, type PreparedBatch, prepareBatch, writePrepared } from "./import-batch.js";
import { BATCH_MAX_BYTES, BATCH_MAX_MESSAGES, type MailSource, type MessageMeta, type SourceFolder, type SyncedFolder, type WindowRule } from "./mail-source.js";
import { readAhead } from "./read-ahead.js";

/**
 * Downloaded content held, at most: the batch being parsed and one waiting, 8 MB in all. A larger
 * message (up to MAX_MESSAGE_BYTES) counts whole: nothing more is downloaded while it is parsed, so
 * two of them are never held at once. A run told to stop (budget, shutdown) then stores at most the
 * batch in hand and the one waiting.
 */
export const READ_AHEAD = { maxBytes: 2 * BATCH_MAX_BYTES, maxItems: 1 };
/**
 * Prepared batches wait to be written together until they hold this many messages, or this many
 * bytes of downloaded mail not given back yet (small messages are kept until written). Mail with
 * attachments comes in batches of a few messages (cut by their bytes); written one batch per
 * transaction, a first import spent more time on statements than on rows.
 */
export const WRITE_GROUP = { minMessages: BATCH_MAX_MESSAGES, maxHeldBytes: BATCH_MAX_BYTES };

export interface MailboxSyncContext {
  db: Db;
  /** The mailbox, open for reading. */
  source: MailSource;
  log: Logger;
  integration: Pick<ClaimedIntegration, "id" | "companyId" | "emailAddress" | "connectedAt" | "initialSyncDays" | "initialSyncMaxMessages">;
  /** The lease holder: cursor moves stop counting once another run owns the integration. */
  owner: string;
  now: () => Date;
  budget: Budget;
  /** Stop taking batches when less than this is left of the run budget. */
  reserveMs: number;
  storage: AttachmentStorage;
  maxMessageBytes: number;
  maxAttachmentBytes: number;
}

export interface MailboxSyncResult {
  imported: number;
  /** Already imported (a resync, a repeated batch). */
  duplicates: number;
  setAside: number;
  /** Stopped by the budget with messages possibly left. */
  hasMore: boolean;
}

/** An empty tally, for `syncMailbox` to count into. */
export function emptySyncResult(): MailboxSyncResult {
  return { imported: 0, duplicates: 0, setAside: 0, hasMore: false };
}

/**
 * Syncs `synced` (see the module comment), counting into `result` as it goes, so what was imported
 * before a failure is still counted. Throws a JobError when the folder cannot be synced (further).
 */
export async function syncMailbox(
  ctx: MailboxSyncContext,
  synced: Pick<SyncedFolder, "path" | "direction">,
  result: MailboxSyncResult = emptySyncResult(),
): Promise<MailboxSyncResult> {
  const { path: folder, direction } = synced;
  const log = ctx.log.with({ folder });
  const rule: WindowRule = {
    sinceDays: ctx.integration.initialSyncDays,
    maxMessages: ctx.integration.initialSyncMaxMessages,
  };
  const reading = {
    db: ctx.db, integrationId: ctx.integration.id, owner: ctx.owner, now: ctx.now, log, rule, maxMessageBytes: ctx.maxMessageBytes,
  };
  const opened = await ctx.source.openFolder(synced, reading);
  try {
    if (!opened.isCaughtUp) await importFolder(ctx, { folder, direction }, opened, result, log);
  } finally {
    opened.close();
  }
  log.info("folder synced", { ...result });
  return result;
}

/**
 * Downloads the folder's new messages batch by batch while storing them, three steps in flight: a
 * batch downloading, one being parsed (attachments stored), and the rows of the ones before being
 * written. Small batches wait to be written together (`WRITE_GROUP`): one transaction for the rows
 * of about a hundred messages, whatever cut their downloads. The cursor moves past a group once its
 * rows are in. At most one downloaded batch waits (READ_AHEAD). A batch sharing a dedupe key with
 * one not written yet waits for those rows before it is parsed (see `prepareBatch`). Downloaded
 * mail is given back as soon as it is parsed (`downloadAgain`, should its rows be refused).
 */
async function importFolder(
  ctx: MailboxSyncContext,
  key: { folder: string; direction: MessageDirection },
  opened: SourceFolder,
  result: MailboxSyncResult,
  log: Logger,
): Promise<void> {
  boundHeapGrowth();
  let isStoppedByBudget = false;
  const isBudgetSpent = () => (isStoppedByBudget ||= ctx.budget.isExhausted(ctx.reserveMs));
  const batches = readAhead(opened.readChanges(isBudgetSpent), (b) => b.bytes, READ_AHEAD);
  const downloadAgain = (message: MessageMeta) => opened.fetchRaw(message);
  const batchCtx = { ...ctx, integration: ctx.integration, log, downloadAgain };
  const where = { folder: key.folder, direction: key.direction, uidValidity: opened.epoch };
  // Prepared batches whose rows wait to be written together, and the group being written.
  let waiting: Group = emptyGroup();
  let writing: (Group & { written: Promise<void> }) | null = null;
  let hasWriteFailed = false;
  const finishWriting = async () => {
    if (!writing) return;
    const { batches: group, written } = writing;
    writing = null;
    await written.catch((err: unknown) => {
      hasWriteFailed = true;
      throw err;
    });
    for (const { batch } of group) for (const message of batch.messages) if (message.source) releaseIfAlone(message.source);
  };
  const isBeingWritten = (keyed: KeyedBatch) => writing !== null && sharesKey(keyed, writing.keys);
  // The waiting group's rows, then the cursor past them: both while the next batch is prepared.
  const writeWaiting = async () => {
    await finishWriting();
    if (waiting.batches.length === 0) return;
    const group = waiting;
    waiting = emptyGroup();
    const written = writePrepared(batchCtx, where, group.batches, result, (position) => opened.advanceCursor(position));
    // Its failure is seen when it is awaited (finishWriting), possibly after the next batch is
    // prepared: not an unhandled rejection meanwhile.
    written.catch(() => {});
    writing = { ...group, written };
  };
  try {
    // The budget is checked before each download only: a batch downloaded is stored (the reserve
    // covers storing it and the one waiting).
    for await (const batch of batches) {
      const keyed = keyBatch(batch);
      if (sharesKey(keyed, waiting.keys)) await writeWaiting();
      if (isBeingWritten(keyed)) await finishWriting();
      const prepared = await prepareBatch(batchCtx, where, keyed, result);
      // Written alone: a batch written message by message; after one that stops the folder, nothing.
      if (prepared.kind === "oneByOne") await writeWaiting();
      waiting.batches.push(prepared);
      for (const k of keyed.keys) waiting.keys.add(k);
      waiting.messages += batch.messages.length;
      waiting.heldBytes += prepared.kind === "steps" ? prepared.heldBytes : batch.bytes;
      const isFull = waiting.messages >= WRITE_GROUP.minMessages || waiting.heldBytes >= WRITE_GROUP.maxHeldBytes;
      if (isFull || prepared.kind === "oneByOne" || prepared.isStopped) await writeWaiting();
    }
    await writeWaiting();
    await finishWriting();
  } finally {
    // Stopped by an error (a download, a batch's preparation): let the rows being written end, and
    // unless they failed, write the batches prepared meanwhile; the cursor moves past what was
    // written before the folder stops with that error.
    await finishWriting().catch(() => {});
    if (!hasWriteFailed) await writeWaiting().then(finishWriting).catch(() => {});
    await batches.close();
    log.debug("folder downloaded ahead", { peakQueuedBytes: batches.peakQueuedBytes });
  }
  if (isStoppedByBudget) result.hasMore = true;
}

/** Consecutive prepared batches whose rows are written in one transaction. */
interface Group {
  batches: PreparedBatch[];
  keys: Set<string>;
  messages: number;
  heldBytes: number;
}

function emptyGroup(): Group {
  return { batches: [], keys: new Set<string>(), messages: 0, heldBytes: 0 };
}

function sharesKey(keyed: KeyedBatch, keys: Set<string>): boolean {
  for (const k of keyed.keys) if (keys.has(k)) return true;
  return false;
}
