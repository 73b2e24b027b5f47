// `users.history.list` from the stored history id (2 quota units a page): the messages that came
// into INBOX or SENT since, and the history id to store next. `labelId` filters on one label only,
// so the list is read unfiltered, once, for both labels, and filtered here; `labelAdded` records are
// read too, so a message that reaches INBOX later (out of spam, out of an archive) is not missed.
// One message in several records (added, then labelled) is one id, with its latest labels. A history
// id too old for Gmail (404: "typically valid for at least a week, … in rare circumstances only a
// few hours") is a resync, as a UIDVALIDITY change is for IMAP.

import type { gmail_v1 } from "@googleapis/gmail";
import type { MessageDirection } from "../db/schema.js";
import type { GmailClient } from "./gmail-client.js";
import { GmailApiError, gmailJson } from "./gmail-request.js";
import { roleOfLabels, SYNCED_LABELS } from "./message-role.js";

export interface HistoryMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  direction: MessageDirection;
}

export type HistoryChanges =
  | {
      kind: "changes";
      /** In the order they first appeared; messages now in spam, trash or drafts are left out. */
      messages: HistoryMessage[];
      /** The cursor to store once these messages are imported. */
      historyId: string;
      /** False when `maxMessages` stopped the reading: `historyId` is then where it stopped. */
      isComplete: boolean;
    }
  | { kind: "resync-needed"; reason: string };

/** Gmail's largest page of history records. */
export const HISTORY_PAGE_SIZE = 500;
/** Ids collected before the reading stops (and resumes from where it stopped, next time). */
export const HISTORY_MAX_MESSAGES = 5_000;

export async function listHistory(client: GmailClient, options: { startHistoryId: string; maxMessages?: number }): Promise<HistoryChanges> {
  const maxMessages = options.maxMessages ?? HISTORY_MAX_MESSAGES;
  const seen = new Map<string, { threadId: string; labelIds: string[] }>();
  let historyId = options.startHistoryId;
  let pageToken: string | undefined;
  do {
    let page: gmail_v1.Schema$ListHistoryResponse;
    try {
      page = await gmailJson<gmail_v1.Schema$ListHistoryResponse>(client, {
        method: "users.history.list",
        httpMethod: "GET",
        path: "/history",
        query: {
          startHistoryId: options.startHistoryId,
          historyTypes: ["messageAdded", "labelAdded"],
          maxResults: String(HISTORY_PAGE_SIZE),
          pageToken,
        },
      });
    } catch (err) {
      if (err instanceof GmailApiError && err.status === 404) {
        return { kind: "resync-needed", reason: `history id ${options.startHistoryId} is no longer available` };
      }
      throw err;
    }
    for (const record of page.history ?? []) note(seen, record);
    pageToken = page.nextPageToken ?? undefined;
    const lastRecordId = page.history?.at(-1)?.id;
    if (pageToken && seen.size >= maxMessages && lastRecordId) {
      // Every record up to this one is read: the next reading starts after it.
      return { kind: "changes", messages: rolesOf(seen), historyId: lastRecordId, isComplete: false };
    }
    historyId = page.historyId ?? lastRecordId ?? historyId;
  } while (pageToken);
  return { kind: "changes", messages: rolesOf(seen), historyId, isComplete: true };
}

/** Takes in one record: a message added, or given INBOX or SENT, is new; any later record updates its labels. */
function note(seen: Map<string, { threadId: string; labelIds: string[] }>, record: gmail_v1.Schema$History): void {
  const touched: { message?: gmail_v1.Schema$Message; addedLabels?: string[] | null; isAdded: boolean }[] = [
    ...(record.messagesAdded ?? []).map((entry) => ({ message: entry.message, isAdded: true })),
    ...(record.labelsAdded ?? []).map((entry) => ({
      message: entry.message,
      addedLabels: entry.labelIds,
      isAdded: (entry.labelIds ?? []).some((label) => (SYNCED_LABELS as readonly string[]).includes(label)),
    })),
  ];
  for (const { message, addedLabels, isAdded } of touched) {
    const id = message?.id;
    if (!id) continue;
    const known = seen.get(id);
    if (!known && !isAdded) continue;
    const labelIds = message.labelIds ?? [...new Set([...(known?.labelIds ?? []), ...(addedLabels ?? [])])];
    seen.set(id, { threadId: message.threadId ?? known?.threadId ?? id, labelIds });
  }
}

function rolesOf(seen: Map<string, { threadId: string; labelIds: string[] }>): HistoryMessage[] {
  const messages: HistoryMessage[] = [];
  for (const [id, { threadId, labelIds }] of seen) {
    const direction = roleOfLabels(labelIds);
    if (direction) messages.push({ id, threadId, labelIds, direction });
  }
  return messages;
}
