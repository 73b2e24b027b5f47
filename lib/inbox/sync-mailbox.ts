/**
 * Imports the new mail of one folder of one integration, read-only (EXAMINE, BODY.PEEK: the server's
 * mailbox, flags included, is never changed).
 *
 * - First sync: only the recent window (INTERNALDATE within `initial_sync_days`, the newest
 *   `initial_sync_max_messages`), imported as backfill.
 * - Then: the UIDs after the cursor, in UID order, in small batches; the cursor moves after each
 *   batch, so a crash or a stall repeats at most one batch, and the dedupe keys make a repeat harmless.
 * - UIDVALIDITY changed: the same window again (Message-ID dedupe drops what is already imported),
 *   never `UID 0:*`; several changes in a row stop the folder with an error.
 * - A message that cannot be stored is set aside with its reason and the sync goes on after it
 *   (unless attachment storage is down: the folder then stops before it, to retry next run).
 * - Stops taking batches when the run budget is nearly spent and says so (`hasMore`).
 */

import type { ImapFlow, MailboxObject } from "imapflow";
import type { Db } from "../db/client.js";
import type { ClaimedIntegration } from "../jobs/claim.js";
import type { Budget } from "../jobs/budget.js";
import { JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import { advanceCursor, type CursorKey, type FolderCursor, isCaughtUp, markUidValidityStable, readCursor, startCursor } from "./cursor.js";
import { fetchContent, fetchMetadata, type FetchedMessage, planBatches } from "./fetch-new.js";
import { quarantineMessage } from "./quarantine.js";
import { searchNewUids, searchWindowUids, type WindowRule } from "./search-uids.js";
import { storeMessage } from "./store-message.js";

/** UIDs looked at per SEARCH round: bounds the metadata held at once on a mailbox with a big backlog. */
const MAX_UIDS_PER_ROUND = 200;
/** A server that gives a new UIDVALIDITY on this many syncs in a row is renumbering all the time. */
export const MAX_CONSECUTIVE_UIDVALIDITY_CHANGES = 3;

export interface MailboxSyncContext {
  db: Db;
  client: ImapFlow;
  log: Logger;
  integration: Pick<ClaimedIntegration, "id" | "companyId" | "emailAddress" | "initialSyncDays" | "initialSyncMaxMessages">;
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
 * Syncs `folder` (see the module comment), counting into `result` as it goes, so what was imported
 * before a failure is still counted. Throws a JobError when the folder cannot be synced (further).
 */
export async function syncMailbox(
  ctx: MailboxSyncContext,
  folder: string,
  result: MailboxSyncResult = emptySyncResult(),
): Promise<MailboxSyncResult> {
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
    while (!isCaughtUp(cursor, box.uidNext)) {
      if (ctx.budget.isExhausted(ctx.reserveMs)) {
        result.hasMore = true;
        break;
      }
      const isBackfill = cursor.backfillUntilUid !== null && cursor.lastUid < cursor.backfillUntilUid;
      const uids = isBackfill
        ? await searchWindowUids(ctx.client, rule, ctx.now(), { afterUid: cursor.lastUid, untilUid: cursor.backfillUntilUid! })
        : await searchNewUids(ctx.client, cursor.lastUid);
      if (uids.length === 0) {
        if (!isBackfill) break;
        await moveCursor(ctx, key, cursor, cursor.backfillUntilUid!);
        continue;
      }
      const round = uids.slice(0, MAX_UIDS_PER_ROUND);
      const isComplete = await importRound(ctx, key, cursor, round, isBackfill, result, log);
      if (!isComplete) {
        result.hasMore = true;
        break;
      }
      // UIDs that vanished between SEARCH and FETCH (expunged elsewhere) are passed over too.
      await moveCursor(ctx, key, cursor, round[round.length - 1]!);
    }
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
 * Downloads and imports `uids` batch by batch, moving the cursor after each. Returns false when the
 * budget stopped it before the end.
 */
async function importRound(
  ctx: MailboxSyncContext,
  key: CursorKey,
  cursor: FolderCursor,
  uids: number[],
  isBackfill: boolean,
  result: MailboxSyncResult,
  log: Logger,
): Promise<boolean> {
  const metas = await fetchMetadata(ctx.client, uids);
  for (const batch of planBatches(metas, ctx.maxMessageBytes)) {
    if (ctx.budget.isExhausted(ctx.reserveMs)) return false;
    const messages = await fetchContent(ctx.client, batch, ctx.maxMessageBytes);
    for (const message of messages) await importMessage(ctx, key.folder, cursor.uidValidity, message, isBackfill, result, log);
    await moveCursor(ctx, key, cursor, batch[batch.length - 1]!.uid);
  }
  return true;
}

/** Stores one message, or sets it aside with the reason it could not be stored. */
async function importMessage(
  ctx: MailboxSyncContext,
  folder: string,
  uidValidity: number,
  message: FetchedMessage,
  isBackfill: boolean,
  result: MailboxSyncResult,
  log: Logger,
): Promise<void> {
  const where = { integrationId: ctx.integration.id, folder, uidValidity, uid: message.uid, source: message.source, sizeBytes: message.sizeBytes };
  const deps = { storage: ctx.storage, now: ctx.now(), log };
  if (!message.source) {
    await quarantineMessage(ctx.db, where, "the server returned no content for this message", deps);
    result.setAside++;
    return;
  }
  try {
    const outcome = await storeMessage(
      ctx.db,
      {
        integration: { id: ctx.integration.id, companyId: ctx.integration.companyId, emailAddress: ctx.integration.emailAddress },
        folder,
        uidValidity,
        uid: message.uid,
        source: message.source,
        sizeBytes: message.sizeBytes,
        internalDate: message.internalDate,
        isOversize: message.isOversize,
        isBackfill,
      },
      { now: deps.now, storage: ctx.storage, maxAttachmentBytes: ctx.maxAttachmentBytes, log },
    );
    if (outcome.status === "stored") result.imported++;
    else result.duplicates++;
  } catch (err) {
    // Storage that is down now may work on the next run: stop here, the cursor stays before this
    // message. Anything else about this message will not get better by retrying: set it aside.
    if (err instanceof JobError && err.kind === "transient") throw err;
    await quarantineMessage(ctx.db, where, shortReason(err), deps);
    result.setAside++;
  }
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
