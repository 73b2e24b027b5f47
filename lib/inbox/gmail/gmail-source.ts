// The Gmail API mail source: a Google mailbox read over the Gmail API, seen by the sync like an
// IMAP one (`mail-source.ts`).
//
// - Folders: the labels INBOX (role inbox) and SENT (role sent). A message carrying both (mail to
//   oneself) is the business's own and is read in SENT only (`message-role.ts`): one row.
// - First sync: the window's messages (`users.messages.list` since now − initial_sync_days, the
//   newest initial_sync_max_messages), each message's raw MIME (`format=raw`) through the shared
//   parser, dedupe, threading and quarantine; what it finds is backfill unless dated after the
//   connection (`backfill-rule.ts`). The history id read before the lists is where the folder goes on.
// - Then: `users.history.list` from the stored history id, the messages added to (or labelled with)
//   the folder's label. A history id Gmail no longer keeps (404) restarts the window, as a
//   UIDVALIDITY change does for IMAP; the dedupe keys make the repeat harmless.
// - The folder's cursor (`source_cursor`, `../graph/source-cursor.ts`): the history id once the
//   window is read; within a window, `window:<historyId>:<last id stored>`, so a window longer than
//   one run resumes after what is stored (the list is newest first and stable; a message deleted
//   meanwhile restarts the window, the dedupe recognising what comes again).
// - Quotas and back-off are the transport's (`lib/gmail/gmail-request.ts`); no wait passes the run's budget.

import { JobError } from "../../errors.js";
import { getRawMessage } from "../../gmail/get-raw-message.js";
import type { GmailClient, GmailClientOptions } from "../../gmail/gmail-client.js";
import { gmailClientFor } from "../../gmail/integration-client.js";
import { listHistory } from "../../gmail/list-history.js";
import { roleOfLabels } from "../../gmail/message-role.js";
import { planFirstSync } from "../../gmail/plan-first-sync.js";
import type { Config } from "../../config.js";
import type { Db } from "../../db/client.js";
import type { FolderRole, MessageDirection } from "../../db/schema.js";
import type { Budget } from "../../jobs/budget.js";
import type { Logger } from "../../log.js";
import type { ClaimedIntegration } from "../claim-integrations.js";
import { moveSourceCursor, readSourceCursor, startWindowRound } from "../graph/source-cursor.js";
import type { CursorKey } from "../imap/cursor.js";
import {
  BATCH_MAX_BYTES, BATCH_MAX_MESSAGES, type DownloadedBatch, type FetchedMessage, type FolderReading, type MailSource, type SourceFolder, type SyncedFolder,
} from "../mail-source.js";

const DAY_MS = 24 * 60 * 60_000;
/** `users.messages.get` in flight per folder (5 units each: well within a mailbox's 250 units a second). */
const PARALLEL_DOWNLOADS = 4;
/** The position of a batch that leaves the cursor where it is. */
const STAY = "";
const WINDOW_PREFIX = "window:";

/** The labels a Gmail mailbox syncs, by role, in sync order (INBOX first). */
const GMAIL_FOLDERS: ReadonlyArray<{ role: FolderRole; path: "INBOX" | "SENT"; direction: MessageDirection }> = [
  { role: "inbox", path: "INBOX", direction: "inbound" },
  { role: "sent", path: "SENT", direction: "outbound" },
];

/** What opening an integration's Gmail mailbox needs. */
export interface GmailSourceContext {
  db: Db;
  config: Config;
  log: Logger;
  now: () => Date;
  budget: Budget;
  /** The client's waits and quota pace, when not the process's own (tests record the waits). */
  gmail?: Pick<GmailClientOptions, "sleep" | "limiter" | "random">;
}

/** Runs `read` on the integration's mailbox over the Gmail API. */
export async function withGmailSource(
  ctx: GmailSourceContext,
  integration: ClaimedIntegration,
  read: (source: MailSource, log: Logger) => Promise<void>,
): Promise<void> {
  const deadline = new Date(ctx.now().getTime() + Math.max(0, ctx.budget.remainingMs()));
  const client = gmailClientFor(integration, { db: ctx.db, config: ctx.config, now: ctx.now, log: ctx.log }, { ...ctx.gmail, deadline });
  await read(gmailSource(client), ctx.log.with({ transport: "gmail-api" }));
}

/** The mailbox `client` reads. */
export function gmailSource(client: GmailClient): MailSource {
  return {
    listFolders: async (roles) => GMAIL_FOLDERS.filter((f) => roles.includes(f.role)).map((f): SyncedFolder => ({ ...f })),
    openFolder: (folder, reading) => openFolder(client, folder.path, reading),
  };
}

interface WindowCursor {
  historyId: string;
  /** The last message stored, newest first; null before the first batch. */
  lastId: string | null;
}

function windowCursorOf(link: string | null): WindowCursor | null {
  if (link === null || !link.startsWith(WINDOW_PREFIX)) return null;
  const [historyId, lastId] = link.slice(WINDOW_PREFIX.length).split(":");
  return historyId ? { historyId, lastId: lastId || null } : null;
}

async function openFolder(client: GmailClient, path: string, reading: FolderReading): Promise<SourceFolder> {
  const known = GMAIL_FOLDERS.find((f) => f.path === path);
  if (!known) throw new JobError("permanent", `folder ${path} is not one the Gmail API syncs`);
  const { db, log } = reading;
  const key: CursorKey = { integrationId: reading.integrationId, folder: known.path, owner: reading.owner };
  let cursor = await readSourceCursor(db, key);
  if (!cursor) {
    if (!(await startWindowRound(db, key, reading.now()))) throw leaseLost();
    cursor = { link: null, isWindowRound: true };
    log.info("first sync: importing the recent window", { sinceDays: reading.rule.sinceDays });
  }
  let stored = cursor.link;
  /** Positions of a window restarted since they were handed out: a late batch must not put them back. */
  let stale = new Set<string>();
  const handedOut = new Set<string>();
  const download = (id: string) => downloadMessage(client, id, known.direction, reading.maxMessageBytes);

  /** The window's messages of this folder, newest first, after `resume.lastId` when it is still listed. */
  async function windowMessages(resume: WindowCursor | null): Promise<{ historyId: string; ids: string[] }> {
    const since = new Date(reading.now().getTime() - reading.rule.sinceDays * DAY_MS);
    const plan = await planFirstSync(client, { since, maxMessages: reading.rule.maxMessages });
    const ids = plan.messages.filter((m) => m.direction === known!.direction).map((m) => m.id).slice(0, reading.rule.maxMessages);
    if (!resume) return { historyId: plan.historyId, ids };
    const at = resume.lastId === null ? -1 : ids.indexOf(resume.lastId);
    // The message last stored is gone: the whole window again (dedupe keeps each message once).
    return { historyId: resume.historyId, ids: at === -1 && resume.lastId !== null ? ids : ids.slice(at + 1) };
  }

  async function* batchesOf(ids: string[], isBackfill: boolean, positionAfter: (lastId: string) => string, shouldStop: () => boolean): AsyncGenerator<DownloadedBatch> {
    let messages: FetchedMessage[] = [];
    let bytes = 0;
    for (let i = 0; i < ids.length; i += PARALLEL_DOWNLOADS) {
      // Asked once a batch is handed over, as the caller asks before each page: a run always makes progress.
      if (i > 0 && messages.length === 0 && shouldStop()) return;
      const slice = ids.slice(i, i + PARALLEL_DOWNLOADS);
      for (const fetched of await allOrFirstError(slice.map(download))) {
        if (!fetched) continue;
        messages.push(fetched);
        bytes += fetched.source?.length ?? 0;
      }
      if (messages.length >= BATCH_MAX_MESSAGES || bytes >= BATCH_MAX_BYTES) {
        const position = positionAfter(slice.at(-1)!);
        handedOut.add(position);
        yield { messages, isBackfill, position, bytes };
        messages = [];
        bytes = 0;
      }
    }
    if (messages.length > 0) {
      const position = positionAfter(ids.at(-1)!);
      handedOut.add(position);
      yield { messages, isBackfill, position, bytes };
    }
  }

  async function* readChanges(shouldStop: () => boolean): AsyncGenerator<DownloadedBatch> {
    let link = cursor!.link;
    for (;;) {
      if (shouldStop()) return;
      const resume = windowCursorOf(link);
      if (link === null || resume) {
        const window = await windowMessages(resume);
        const during = (lastId: string) => `${WINDOW_PREFIX}${window.historyId}:${lastId}`;
        let isCut = false;
        for await (const batch of batchesOf(window.ids, true, during, () => (isCut = shouldStop()))) yield batch;
        if (isCut) return;
        // The window is read: the folder goes on from the history id read before its lists.
        yield { messages: [], isBackfill: true, position: window.historyId, bytes: 0 };
        link = window.historyId;
        continue;
      }
      const changes = await listHistory(client, { startHistoryId: link });
      if (changes.kind === "resync-needed") {
        log.warn("history id refused: importing the recent window again", { reason: changes.reason });
        stale = new Set(handedOut);
        if (!(await startWindowRound(db, key, reading.now()))) throw leaseLost();
        stored = null;
        link = null;
        continue;
      }
      const ids = changes.messages.filter((m) => m.direction === known!.direction).map((m) => m.id);
      let isCut = false;
      for await (const batch of batchesOf(ids, false, () => STAY, () => (isCut = shouldStop()))) yield batch;
      if (isCut) return;
      yield { messages: [], isBackfill: false, position: changes.historyId, bytes: 0 };
      link = changes.historyId;
      if (changes.isComplete) return;
    }
  }

  return {
    epoch: 0,
    // Only a history request tells: there is no cheap look at the label first.
    isCaughtUp: false,
    readChanges,
    advanceCursor: async (position) => {
      if (typeof position !== "string") throw new Error("a Gmail label's cursor is a history id");
      if (position === STAY || position === stored || stale.has(position)) return;
      const isRoundOver = !position.startsWith(WINDOW_PREFIX);
      if (!(await moveSourceCursor(db, key, position, isRoundOver, reading.now()))) throw leaseLost();
      stored = position;
    },
    fetchRaw: async (message) => {
      if (message.sourceMessageId === undefined) throw new Error("a Gmail message is keyed by its id");
      return (await download(message.sourceMessageId))?.source ?? null;
    },
    close: () => {},
  };
}

/**
 * A message's raw MIME, or null when it is gone, or no longer this folder's (moved to spam or
 * trash since it was listed, or sent to oneself and read in SENT).
 */
async function downloadMessage(client: GmailClient, id: string, direction: MessageDirection, maxBytes: number): Promise<FetchedMessage | null> {
  const got = await getRawMessage(client, id, { maxBytes });
  if (!got.found) return null;
  if (got.message.labelIds && roleOfLabels(got.message.labelIds) !== direction) return null;
  const received = Number(got.message.internalDate);
  return {
    sourceMessageId: id,
    sizeBytes: Math.max(got.message.sizeEstimate ?? 0, got.source.length),
    internalDate: Number.isFinite(received) && received > 0 ? new Date(received) : null,
    source: got.source,
    isOversize: got.isOversize,
    ...(got.message.threadId ? { sourceThreadId: got.message.threadId } : {}),
  };
}

/** Every result in order; the first failure thrown once all have settled (no download left running). */
async function allOrFirstError<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

function leaseLost(): JobError {
  return new JobError("transient", "another run took over this integration (lease expired)");
}
