// What the import stores: a fetched message as it comes from its folder, the same message once
// parsed and its attachments stored (ready for its rows), and the outcome. Shared by the steps
// of `store-message.ts`, the rows of `message-rows.ts` and the batches of `import-batch.ts`.

import type { MessageDirection } from "../db/schema.js";
import type { ConversationEffect } from "./conversation-effect.js";
import type { StoredMessageKey } from "./mail-source.js";
import type { MailAddress, ParsedMessage } from "./parse-message.js";

/** A message to store, keyed in its folder by its UID (IMAP) or its source's id (`StoredMessageKey`). */
export type IncomingMessage = IncomingMessageFields & StoredMessageKey;

interface IncomingMessageFields {
  integration: { id: number; companyId: number; emailAddress: string | null };
  folder: string;
  /** The folder's: `outbound` (Sent) is the business's own mail, whoever it names as sender. */
  direction: MessageDirection;
  /** The full RFC 822 bytes, or only the header block when `isOversize`. */
  source: Buffer;
  /** The server's RFC822.SIZE. */
  sizeBytes: number;
  /** The server's INTERNALDATE. */
  internalDate: Date | null;
  /** Only the headers were downloaded (over MAX_MESSAGE_BYTES): stored with a placeholder body. */
  isOversize: boolean;
  /**
   * Mail the mailbox held before it was connected, found by a first sync or a resync window
   * (`backfill-rule.ts`): stored read, never triggers automation.
   */
  isBackfill: boolean;
  /** The source's thread (Gmail's `threadId`), kept so that an answer sent through the same mailbox joins it. */
  sourceThreadId?: string;
}

export type StoreOutcome = { status: "stored"; messageId: number; conversationId: number } | { status: "duplicate" };

/** A message parsed, its attachments stored, its rows ready to be written by `writeMessage`. */
export interface PreparedMessage {
  message: IncomingMessage;
  dedupeKey: string;
  parsed: ParsedMessage;
  isOutbound: boolean;
  effect: ConversationEffect;
  correspondents: MailAddress[];
  correspondentAddress: string | null;
  subject: string;
  content: string;
  html: string | null;
  notes: string[];
}
