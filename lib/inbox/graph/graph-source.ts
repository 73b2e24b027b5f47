// The Microsoft Graph mail source: a mailbox read over Graph (a tenant without IMAP, a shared
// mailbox at /users/{address}), seen by the sync like an IMAP one (`mail-source.ts`).
//
// - Folders: Inbox and Sent Items by their well-known names (`inbox`, `sentitems`), whatever the
//   mailbox's language.
// - Changes: delta rounds ("message: delta"). A folder's cursor is the link its round resumes from
//   (`source-cursor.ts`), moved once a page's messages are stored: a crash repeats at most a page,
//   and the dedupe keys make the repeat harmless. Each message's MIME comes from `$value`, so it
//   goes through the same parser, dedupe, threading and quarantine as IMAP mail; Graph's immutable
//   id is its key.
// - First sync: the round is bounded to the recent window (receivedDateTime ≥ now − initial_sync_days,
//   and not before the initial_sync_max_messages-th newest message), and what it finds is backfill
//   unless dated after the connection (`backfill-rule.ts`).
// - A cursor Graph refuses (an expired delta token, a reset) restarts the round on the recent window,
//   as a UIDVALIDITY change does for IMAP.
// - A message over the size limit keeps its header block only (its download cut there), as for IMAP.

import { JobError } from "../../errors.js";
import { fetchMime } from "../../graph/fetch-mime.js";
import type { GraphClient, GraphClientOptions } from "../../graph/graph-client.js";
import { graphClientFor, graphMailboxOf } from "../../graph/integration-client.js";
import type { GraphFolder, GraphMailbox } from "../../graph/mailbox-path.js";
import { type DeltaMessage, readDeltaPage, receivedAtOfNewest } from "../../graph/read-delta-page.js";
import type { Config } from "../../config.js";
import type { Db } from "../../db/client.js";
import type { FolderRole, MessageDirection } from "../../db/schema.js";
import type { Logger } from "../../log.js";
import { renewedLoginRefused } from "../../mail/credentials.js";
import type { ClaimedIntegration } from "../claim-integrations.js";
import type { CursorKey } from "../imap/cursor.js";
import {
  BATCH_MAX_BYTES, BATCH_MAX_MESSAGES, type DownloadedBatch, type FetchedMessage, type FolderReading, type MailSource, type SourceFolder, type SyncedFolder,
} from "../mail-source.js";
import { moveSourceCursor, readSourceCursor, startWindowRound } from "./source-cursor.js";

const DAY_MS = 24 * 60 * 60_000;
/** $value downloads in flight per folder: Outlook's 4 concurrent requests per mailbox. */
const PARALLEL_DOWNLOADS = 4;
/** The position of a batch cut inside a page: the cursor stays where the page started. */
const STAY = "";

/** The folders a Graph mailbox syncs, by role, in sync order (Inbox first). */
const GRAPH_FOLDERS: ReadonlyArray<{ role: FolderRole; path: GraphFolder; direction: MessageDirection }> = [
  { role: "inbox", path: "inbox", direction: "inbound" },
  { role: "sent", path: "sentitems", direction: "outbound" },
];

/** What opening an integration's Graph mailbox needs. */
export interface GraphSourceContext {
  db: Db;
  config: Config;
  log: Logger;
  now: () => Date;
  /** Ends the requests at once when it fires (the budget's hard stop). */
  hardStop: AbortSignal;
  /** The client's waits and per-mailbox limit, when not the process's own (tests record the waits). */
  graph?: Pick<GraphClientOptions, "sleep" | "limiter">;
}

/**
 * Runs `read` on the integration's mailbox over Graph. An authorization Graph keeps refusing (401
 * after a new token, 403) is an auth failure like an IMAP login refused; on a shared mailbox it
 * means the consenting account lost access: the mailbox needs reconnection, naming it.
 */
export async function withGraphSource(
  ctx: GraphSourceContext,
  integration: ClaimedIntegration,
  read: (source: MailSource, log: Logger) => Promise<void>,
): Promise<void> {
  const deps = { db: ctx.db, config: ctx.config, now: ctx.now, log: ctx.log };
  const mailbox = graphMailboxOf(integration);
  const client = graphClientFor(integration, deps, ctx.graph ?? {});
  try {
    await read(graphSource(client, mailbox, ctx.hardStop), ctx.log.with({ transport: "graph" }));
  } catch (err) {
    if (err instanceof JobError && err.kind === "auth" && !ctx.hardStop.aborted) await renewedLoginRefused(integration, deps, err);
    throw err;
  }
}

/** The mailbox `mailbox` read through `client`. */
export function graphSource(client: GraphClient, mailbox: GraphMailbox, signal?: AbortSignal): MailSource {
  return {
    listFolders: async (roles) => GRAPH_FOLDERS.filter((f) => roles.includes(f.role)).map((f): SyncedFolder => ({ ...f })),
    openFolder: (folder, reading) => openFolder(client, mailbox, folder.path, reading, signal),
  };
}

async function openFolder(client: GraphClient, mailbox: GraphMailbox, path: string, reading: FolderReading, signal?: AbortSignal): Promise<SourceFolder> {
  const known = GRAPH_FOLDERS.find((f) => f.path === path);
  if (!known) throw new JobError("permanent", `folder ${path} is not one Microsoft Graph syncs`);
  const folder: GraphFolder = known.path;
  const { db, log } = reading;
  const key: CursorKey = { integrationId: reading.integrationId, folder, owner: reading.owner };
  let cursor = await readSourceCursor(db, key);
  if (!cursor) {
    if (!(await startWindowRound(db, key, reading.now()))) throw leaseLost();
    cursor = { link: null, isWindowRound: true };
    log.info("first sync: importing the recent window", { sinceDays: reading.rule.sinceDays });
  }
  // The links that end a round (deltaLinks): storing one ends the window round.
  const roundEnds = new Set<string>();
  // Links handed out before a resync restarted the round: a batch of theirs still being written
  // must not put the refused round's link back.
  const handedOut = new Set<string>();
  let stale = new Set<string>();
  let stored = cursor.link;
  const download = (message: DeltaMessage) => downloadMessage(client, mailbox, message, reading.maxMessageBytes, signal);

  /**
   * Where a window round starts: `initial_sync_days` ago, or later when the folder holds more than
   * `initial_sync_max_messages` since then (the newest of them only: delta has no order nor count).
   */
  async function windowStart(): Promise<Date> {
    const since = new Date(reading.now().getTime() - reading.rule.sinceDays * DAY_MS);
    const newest = await receivedAtOfNewest(client, mailbox, folder, reading.rule.maxMessages, { signal });
    return newest && newest > since ? newest : since;
  }

  async function* readChanges(shouldStop: () => boolean): AsyncGenerator<DownloadedBatch> {
    let link = cursor!.link;
    let isWindow = cursor!.isWindowRound;
    for (;;) {
      if (shouldStop()) return;
      const page = await readDeltaPage(client, mailbox, { folder, ...(link ? { cursor: link } : { receivedSince: await windowStart() }) }, { signal });
      if (page.kind === "resync-needed") {
        // Dedupe recognises what comes again; mail dated after the connection stays live mail.
        log.warn("delta cursor refused: importing the recent window again", { reason: page.reason });
        stale = new Set(handedOut);
        if (!(await startWindowRound(db, key, reading.now()))) throw leaseLost();
        link = null;
        stored = null;
        isWindow = true;
        continue;
      }
      if (page.isRoundComplete) roundEnds.add(page.cursor);
      let messages: FetchedMessage[] = [];
      let bytes = 0;
      for (let i = 0; i < page.messages.length; i += PARALLEL_DOWNLOADS) {
        for (const fetched of await allOrFirstError(page.messages.slice(i, i + PARALLEL_DOWNLOADS).map(download))) {
          if (!fetched) continue;
          messages.push(fetched);
          bytes += fetched.source?.length ?? 0;
        }
        if (messages.length >= BATCH_MAX_MESSAGES || bytes >= BATCH_MAX_BYTES) {
          yield { messages, isBackfill: isWindow, position: link ?? STAY, bytes };
          messages = [];
          bytes = 0;
        }
      }
      handedOut.add(page.cursor);
      yield { messages, isBackfill: isWindow, position: page.cursor, bytes };
      link = page.cursor;
      if (page.isRoundComplete) return;
    }
  }

  return {
    epoch: 0,
    // Only a delta request tells: there is no cheap look at the folder first.
    isCaughtUp: false,
    readChanges,
    advanceCursor: async (position) => {
      if (typeof position !== "string") throw new Error("a Graph folder's cursor is a link");
      if (position === STAY || position === stored || stale.has(position)) return;
      if (!(await moveSourceCursor(db, key, position, roundEnds.has(position), reading.now()))) throw leaseLost();
      stored = position;
    },
    fetchRaw: async (message) => {
      if (message.sourceMessageId === undefined) throw new Error("a Graph message is keyed by its id");
      return (await download({ id: message.sourceMessageId }))?.source ?? null;
    },
    close: () => {},
  };
}

/** A message's MIME, or null when it was deleted or moved since the delta listed it. */
async function downloadMessage(client: GraphClient, mailbox: GraphMailbox, message: DeltaMessage, maxBytes: number, signal?: AbortSignal): Promise<FetchedMessage | null> {
  const mime = await fetchMime(client, mailbox, message.id, { signal });
  if (mime.kind === "gone") return null;
  const read = await readUpTo(mime.stream, maxBytes);
  return {
    sourceMessageId: message.id,
    sizeBytes: Math.max(mime.declaredBytes ?? 0, read.seenBytes),
    internalDate: message.receivedAt ?? null,
    source: read.source,
    isOversize: read.isOversize,
  };
}

/**
 * The stream's bytes, or, past `maxBytes`, only its header block (the download cancelled there), as
 * an IMAP header fetch gives it: the import stores such a message with a placeholder body.
 */
async function readUpTo(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<{ source: Buffer; isOversize: boolean; seenBytes: number }> {
  const reader = stream.getReader();
  const chunks: Buffer[] = [];
  let seenBytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { source: Buffer.concat(chunks), isOversize: false, seenBytes };
      seenBytes += value.byteLength;
      chunks.push(Buffer.from(value));
      if (seenBytes > maxBytes) {
        await reader.cancel();
        const held = Buffer.concat(chunks);
        const end = held.indexOf("\r\n\r\n");
        return { source: held.subarray(0, end === -1 ? Math.min(held.length, maxBytes) : end + 4), isOversize: true, seenBytes };
      }
    }
  } finally {
    reader.releaseLock();
  }
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
