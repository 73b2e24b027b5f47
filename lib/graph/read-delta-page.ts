// One page of a folder's delta round ("message: delta"; "Get incremental changes to messages in a
// folder"). The first request of a first round names the folder, the few fields the sync needs
// ($select), and the first-sync window ($filter=receivedDateTime ge …, the only filter messages
// delta supports besides `gt`; with it a round returns at most 5,000 messages); Graph encodes these
// into the links it hands back, so later requests are the links themselves. Each page ends with an
// @odata.nextLink (more to read: the round goes on) or an @odata.deltaLink (the round is over: the
// cursor of the next one). Removed items (@removed) are skipped: the product never deletes.
// A cursor Graph no longer honours — 410 Gone (a reset after tenant maintenance, "Use delta query",
// Synchronization reset), or the codes of an expired token (syncStateNotFound, resyncRequired and
// kin, "Microsoft Graph error responses") — is a typed `resync-needed`, not an error.

import type { Message } from "@microsoft/microsoft-graph-types";
import type { CallOptions, GraphClient } from "./graph-client.js";
import { GraphError, graphErrorOf } from "./graph-error.js";
import { type GraphFolder, type GraphMailbox, mailboxPath } from "./mailbox-path.js";
import type { ODataCollection, ODataRemoved } from "./odata.js";

/** What the sync needs of a message before deciding to download it: the rest is in its MIME. */
export const DELTA_SELECT = ["id", "internetMessageId", "receivedDateTime"] as const;
/**
 * Messages per page (Prefer: odata.maxpagesize). Each page's cursor is stored once the page is
 * processed, and each message then costs one $value download: a page is the unit of progress, so
 * it stays small enough to finish well within a run's budget.
 */
export const DEFAULT_DELTA_PAGE_SIZE = 50;

/** Error codes Graph gives a delta token it no longer knows (compared case-insensitively). */
const RESYNC_CODES = ["syncStateNotFound", "syncStateInvalid", "resyncRequired", "resyncApplyDifferences", "resyncUploadDifferences"];

export interface DeltaRequest {
  folder: GraphFolder;
  /** The previous page's cursor (a nextLink or a deltaLink); none starts a first round. */
  cursor?: string;
  /** First round only: skip messages received before this instant. */
  receivedSince?: Date;
  pageSize?: number;
}

export interface DeltaMessage {
  /** Graph's id, for the $value download. */
  id: string;
  /** The Message-ID header, when Graph has one: lets the sync skip a download it already stored. */
  internetMessageId?: string;
  receivedAt?: Date;
}

export type DeltaPage =
  | {
      kind: "page";
      messages: DeltaMessage[];
      /** Where the next read starts: store it once this page's messages are stored. */
      cursor: string;
      /** True when `cursor` is a deltaLink: nothing more until new changes arrive. */
      isRoundComplete: boolean;
      /** Items Graph reported removed, ignored. */
      removedCount: number;
    }
  | { kind: "resync-needed"; reason: string };

/** Reads one page of `folder`'s changes for `mailbox`. */
export async function readDeltaPage(client: GraphClient, mailbox: GraphMailbox, request: DeltaRequest, options: CallOptions = {}): Promise<DeltaPage> {
  const what = `delta of ${request.folder}`;
  const response = await client.send(mailbox, {
    what,
    ...(request.cursor ? { url: request.cursor } : { path: firstRequestPath(mailbox, request) }),
    headers: { prefer: `odata.maxpagesize=${request.pageSize ?? DEFAULT_DELTA_PAGE_SIZE}`, accept: "application/json" },
  }, options);
  if (!response.ok) {
    const error = await graphErrorOf(response, what);
    if (request.cursor && (error.status === 410 || error.hasCode(...RESYNC_CODES))) {
      return { kind: "resync-needed", reason: error.message };
    }
    throw error;
  }
  const page = (await response.json()) as ODataCollection<Message | ODataRemoved>;
  const cursor = page["@odata.deltaLink"] ?? page["@odata.nextLink"];
  if (typeof cursor !== "string" || !Array.isArray(page.value)) {
    throw new GraphError("permanent", `Microsoft Graph ${what} answered a page without a next or delta link`, { status: response.status, mayHaveReachedServer: true });
  }
  const messages: DeltaMessage[] = [];
  let removedCount = 0;
  for (const item of page.value) {
    if ("@removed" in item) {
      removedCount++;
      continue;
    }
    if (typeof item.id !== "string") continue;
    const receivedAt = item.receivedDateTime ? new Date(item.receivedDateTime) : undefined;
    messages.push({
      id: item.id,
      ...(item.internetMessageId ? { internetMessageId: item.internetMessageId } : {}),
      ...(receivedAt && !Number.isNaN(receivedAt.getTime()) ? { receivedAt } : {}),
    });
  }
  return { kind: "page", messages, cursor, isRoundComplete: page["@odata.deltaLink"] !== undefined, removedCount };
}

function firstRequestPath(mailbox: GraphMailbox, request: DeltaRequest): string {
  const query = [`$select=${DELTA_SELECT.join(",")}`];
  if (request.receivedSince) query.push(`$filter=${encodeURIComponent(`receivedDateTime ge ${request.receivedSince.toISOString()}`)}`);
  return `${mailboxPath(mailbox)}/mailFolders/${request.folder}/messages/delta?${query.join("&")}`;
}

/**
 * When the folder's `count`-th newest message was received ("List messages" ordered by
 * receivedDateTime desc, `$skip` to it), or null when the folder holds fewer: a first round filtered
 * from that instant on reads the newest `count` messages (and any received in that same instant).
 */
export async function receivedAtOfNewest(client: GraphClient, mailbox: GraphMailbox, folder: GraphFolder, count: number, options: CallOptions = {}): Promise<Date | null> {
  const what = `newest messages of ${folder}`;
  const query = `$select=receivedDateTime&$orderby=${encodeURIComponent("receivedDateTime desc")}&$top=1&$skip=${Math.max(0, count - 1)}`;
  const response = await client.send(mailbox, {
    what, path: `${mailboxPath(mailbox)}/mailFolders/${folder}/messages?${query}`, headers: { accept: "application/json" },
  }, options);
  if (!response.ok) throw await graphErrorOf(response, what);
  const page = (await response.json()) as ODataCollection<Message>;
  const received = page.value?.[0]?.receivedDateTime;
  if (!received) return null;
  const at = new Date(received);
  return Number.isNaN(at.getTime()) ? null : at;
}
