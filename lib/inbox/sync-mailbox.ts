/**
 * Imports the new mail of one folder of one integration, read-only (EXAMINE, BODY.PEEK: the server's
 * mailbox, flags included, is never changed). The folder comes with its direction: its messages are
 * stored as mail to the business (INBOX) or from it (Sent); the rules below are the same for both.
 *
 * - First sync (of the mailbox, or of a folder that appeared later): only the recent window
 *   (INTERNALDATE within `initial_sync_days`, the newest `initial_sync_max_messages`), imported as
 *   backfill, except the messages dated after the mailbox was connected (`backfill-rule.ts`).
 * - Then: the UIDs after the cursor, in UID order, in small batches; the cursor moves once their rows
 *   are written (about a hundred messages at a time), so a crash or a stall repeats at most that
 *   many, and the dedupe keys make a repeat harmless.
 *   The next batch downloads while this one is stored (`read-ahead.ts`, bounded in bytes); how a
 *   batch is stored is in `import-batch.ts`.
 * - UIDVALIDITY changed: the same window again (Message-ID dedupe drops what is already imported),
 *   never `UID 0:*`; several changes in a row stop the folder with an error.
 * - A message that cannot be stored is set aside with its reason and the sync goes on after it.
 *   When the fault is not the message's (attachment storage down, the database busy or unreachable
 *   after a few tries), the folder stops before it instead, to retry next run: only what is wrong
 *   with the message itself is set aside.
 * - Stops downloading batches when the run budget is nearly spent and says so (`hasMore`); the
 *   batch in hand and the one downloaded ahead are stored.
 */

import type { ImapFlow, MailboxObject } from "imapflow";
import type { Db } from "../db/client.js";
import type { MessageDirection } from "../db/schema.js";
import { boundHeapGrowth, releaseIfAlone } from "../release-memory.js";
import type { ClaimedIntegration } from "./claim-integrations.js";
import type { Budget } from "../jobs/budget.js";
import { JobError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import { advanceCursor, type CursorKey, type FolderCursor, isCaughtUp, markUidValidityStable, readCursor, startCursor } from "./cursor.js";
import { BATCH_MAX_BYTES, BATCH_MAX_MESSAGES, downloadBatches, fetchContent, type MessageMeta } from "./fetch-new.js";
import type { SyncedFolder } from "./folder-plan.js";
import { type KeyedBatch, keyBatch, type PreparedBatch, prepareBatch, writePrepared } from "./import-batch.js";
import { readAhead } from "./read-ahead.js";
import { searchWindowUids, type WindowRule } from "./search-uids.js";

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
/** A server that gives a new UIDVALIDITY on this many syncs in a row is renumbering all the time. */
export const MAX_CONSECUTIVE_UIDVALIDITY_CHANGES = 3;

export interface MailboxSyncContext {
  db: Db;
  client: ImapFlow;
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
  const lock = await ctx.client.getMailboxLock(folder, { readOnly: true, description: "inbox sync" });
  try {
    const box = ctx.client.mailbox;
    if (!box) throw new JobError("transient", `folder ${folder} could not be opened`);
    const key: CursorKey = { integrationId: ctx.integration.id, folder, owner: ctx.owner };
    const rule: WindowRule = {
      sinceDays: ctx.integration.initialSyncDays,
      maxMessages: ctx.integration.initialSyncMaxMessages,
    };
    const cursor = await openCursor(ctx, key, box, rule, log);
    // Nothing after the cursor, as the folder's UIDNEXT shows: no SEARCH, no download.
    if (!isCaughtUp(cursor, box.uidNext)) await importFolder(ctx, { ...key, direction }, cursor, rule, result, log);
  } finally {
    lock.release();
  }
  log.info("folder synced", { ...result });
  return result;
}

/** The folder's cursor, started (first sync) or restarted (UIDVALIDITY change) when needed. */
async function openCursor(
  ctx: MailboxSyncContext,
  key: CursorKey,
  box: MailboxObject,
  rule: WindowRule,
  log: Logger,
): Promise<FolderCursor> {
  const uidValidity = Number(box.uidValidity);
  const existing = await readCursor(ctx.db, key);
  if (existing && existing.uidValidity === uidValidity) {
    if (existing.uidValidityChanges > 0) await markUidValidityStable(ctx.db, key);
    return { ...existing, uidValidityChanges: 0 };
  }
  if (existing && existing.uidValidityChanges + 1 >= MAX_CONSECUTIVE_UIDVALIDITY_CHANGES) {
    throw new JobError(
      "permanent",
      `UIDVALIDITY of ${key.folder} changed on ${existing.uidValidityChanges + 1} syncs in a row: sync stopped, the server keeps renumbering its messages`,
    );
  }
  const window = await searchWindowUids(ctx.client, rule, ctx.now());
  const highestUid = Math.max(await highestUidOf(ctx.client, box), window[window.length - 1] ?? 0);
  const start = {
    uidValidity,
    lastUid: window.length > 0 ? window[0]! - 1 : highestUid,
    backfillUntilUid: highestUid,
    isUidValidityChange: existing !== null,
  };
  if (!(await startCursor(ctx.db, key, start, ctx.now()))) throw leaseLost();
  log.info(existing ? "UIDVALIDITY changed: importing the recent window again" : "first sync: importing the recent window", {
    uidValidity,
    previousUidValidity: existing?.uidValidity,
    windowMessages: window.length,
  });
  return { uidValidity, lastUid: start.lastUid, backfillUntilUid: highestUid, uidValidityChanges: (existing?.uidValidityChanges ?? -1) + 1 };
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
  key: CursorKey & { direction: MessageDirection },
  cursor: FolderCursor,
  rule: WindowRule,
  result: MailboxSyncResult,
  log: Logger,
): Promise<void> {
  boundHeapGrowth();
  let isStoppedByBudget = false;
  const isBudgetSpent = () => (isStoppedByBudget ||= ctx.budget.isExhausted(ctx.reserveMs));
  const plan = { afterUid: cursor.lastUid, backfillUntilUid: cursor.backfillUntilUid, rule, now: ctx.now(), maxMessageBytes: ctx.maxMessageBytes };
  const batches = readAhead(downloadBatches(ctx.client, plan, isBudgetSpent), (b) => b.bytes, READ_AHEAD);
  const downloadAgain = async (message: MessageMeta) => (await fetchContent(ctx.client, [message], ctx.maxMessageBytes))[0]?.source ?? null;
  const batchCtx = { ...ctx, integration: ctx.integration, log, downloadAgain };
  const where = { folder: key.folder, direction: key.direction, uidValidity: cursor.uidValidity };
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
    const written = writePrepared(batchCtx, where, group.batches, result, (lastUid) => moveCursor(ctx, key, cursor, lastUid));
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

async function moveCursor(ctx: MailboxSyncContext, key: CursorKey, cursor: FolderCursor, lastUid: number): Promise<void> {
  if (lastUid <= cursor.lastUid) return;
  if (!(await advanceCursor(ctx.db, key, { uidValidity: cursor.uidValidity, lastUid }, ctx.now()))) throw leaseLost();
  cursor.lastUid = lastUid;
}

/** The highest UID in the folder: UIDNEXT − 1, or the last message's UID when the server gave no UIDNEXT. */
async function highestUidOf(client: ImapFlow, box: MailboxObject): Promise<number> {
  if (box.uidNext > 0) return box.uidNext - 1;
  if (box.exists === 0) return 0;
  const last = await client.fetchOne("*", { uid: true });
  return last ? last.uid : 0;
}

function leaseLost(): JobError {
  return new JobError("transient", "another run took over this integration (lease expired)");
}
