// A folder's changes since a cursor, page after page, until the round is over or time runs out:
// each page is handed to `onPage` with the cursor that follows it, so the caller stores the page's
// messages and that cursor together and a crash re-reads at most one page (which dedupe absorbs).
// Running out of time is not an error: the result says where the next run resumes.

import type { CallOptions, GraphClient } from "./graph-client.js";
import { type DeltaMessage, readDeltaPage } from "./read-delta-page.js";
import type { GraphFolder, GraphMailbox } from "./mailbox-path.js";

export interface SyncFolderRequest {
  folder: GraphFolder;
  /** The cursor the last sync stored; none starts a first round bounded by `receivedSince`. */
  cursor?: string;
  receivedSince?: Date;
  pageSize?: number;
  /** Stores one page; the next page is read only once it resolves. */
  onPage: (messages: DeltaMessage[], cursorAfter: string) => Promise<void>;
}

export type SyncFolderResult =
  /** The round is over: `cursor` is its deltaLink. */
  | { kind: "up-to-date"; cursor: string; pages: number; messages: number }
  /** The deadline came first: `cursor` is the next page's link, the round goes on next run. */
  | { kind: "paused"; cursor: string; pages: number; messages: number }
  /** Graph refused the stored cursor: start again without one (dedupe absorbs what comes twice). */
  | { kind: "resync-needed"; reason: string; pages: number; messages: number };

/** Reads `folder` from its cursor until its round is complete or `options.deadline` passes. */
export async function syncFolder(client: GraphClient, mailbox: GraphMailbox, request: SyncFolderRequest, options: CallOptions = {}): Promise<SyncFolderResult> {
  let cursor = request.cursor;
  let pages = 0;
  let messages = 0;
  for (;;) {
    const page = await readDeltaPage(client, mailbox, {
      folder: request.folder,
      cursor,
      ...(cursor ? {} : { receivedSince: request.receivedSince }),
      pageSize: request.pageSize,
    }, options);
    if (page.kind === "resync-needed") return { kind: "resync-needed", reason: page.reason, pages, messages };
    await request.onPage(page.messages, page.cursor);
    cursor = page.cursor;
    pages++;
    messages += page.messages.length;
    if (page.isRoundComplete) return { kind: "up-to-date", cursor, pages, messages };
    if (options.deadline && client.now() >= options.deadline) return { kind: "paused", cursor, pages, messages };
  }
}
