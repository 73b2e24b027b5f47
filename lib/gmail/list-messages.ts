// `users.messages.list` for one label since a date, every page (`nextPageToken`): the ids of the
// messages a first sync imports. Gmail answers newest first, 500 ids a page at most, 5 quota units
// a page. `labelIds` repeated would mean "all of these labels", so each label is listed on its own.

import type { gmail_v1 } from "@googleapis/gmail";
import type { GmailClient } from "./gmail-client.js";
import { gmailJson } from "./gmail-request.js";

/** A message as a list names it. */
export interface GmailMessageRef {
  id: string;
  threadId: string;
}

/** Gmail's largest page. */
export const MESSAGES_PAGE_SIZE = 500;

export interface ListMessagesOptions {
  labelId: string;
  /** Only messages received after this instant (Gmail's `after:` search, in epoch seconds). */
  since: Date;
  /** Stops after the page that reaches this many ids (bounds memory on a huge mailbox). */
  maxMessages: number;
}

export interface ListedMessages {
  messages: GmailMessageRef[];
  /** More matched than `maxMessages`: the oldest were not listed. */
  isTruncated: boolean;
}

export async function listMessages(client: GmailClient, options: ListMessagesOptions): Promise<ListedMessages> {
  const messages: GmailMessageRef[] = [];
  let pageToken: string | undefined;
  do {
    const page = await gmailJson<gmail_v1.Schema$ListMessagesResponse>(client, {
      method: "users.messages.list",
      httpMethod: "GET",
      path: "/messages",
      query: {
        labelIds: options.labelId,
        q: `after:${Math.floor(options.since.getTime() / 1000)}`,
        maxResults: String(MESSAGES_PAGE_SIZE),
        pageToken,
      },
    });
    for (const message of page.messages ?? []) {
      if (message.id) messages.push({ id: message.id, threadId: message.threadId ?? message.id });
    }
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken && messages.length < options.maxMessages);
  return { messages, isTruncated: pageToken !== undefined };
}
