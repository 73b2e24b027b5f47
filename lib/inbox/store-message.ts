// Imports one fetched message: parse it, store its attachments, then in one short transaction file
// it into a conversation and insert it. Storing the same message again (same UID, or same
// Message-ID under another UID or in another folder: a message in both INBOX and Sent) changes
// nothing; two runs storing it at once give one row. A follow-up the product sent is already a row
// (`record-send.ts`): its copy filed in the Sent folder by the server is recognised by its
// Message-ID and not stored again.
//
// Three steps, which the folder import runs apart (`import-batch.ts`): the check for a message
// already stored (`stored-check.ts`), `prepareMessage` (parse, attachments), `writeMessage` (rows:
// `message-rows.ts`, which writes a whole batch's rows the same way: `write-batch.ts`).
// Order matters. Attachments are written first, outside the transaction (no slow I/O while rows
// are locked), under keys derived from the message's dedupe key, so a retry after a crash
// overwrites the same files. The message row, its attachment rows and the conversation change
// then commit together or not at all; a message that turns out to be a duplicate at insert time
// rolls back the conversation it would have created. How a message affects its conversation
// (read, unread count, status, backfill) is in `conversation-effect.ts`; the locks the transaction
// takes, and why they cannot deadlock, in `conversation-locks.ts`. A database that is busy or
// unreachable (a deadlock, a dropped connection) is retried a few times, then reported as
// transient: the message is never blamed for it.

import type { Db } from "../db/client.js";
import { retryTransient } from "../db/retry-transient.js";
import { dbFailureOf } from "../db/transient-error.js";
import { JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import { conversationEffect, messageRole } from "./conversation-effect.js";
import { dedupeKeyFor } from "./dedupe-key.js";
import type { IncomingMessage, PreparedMessage, StoreOutcome } from "./incoming-message.js";
import { messageContent, pgText } from "./message-content.js";
import { AlreadyStored, insertBatchRows, logStored } from "./message-rows.js";
import { type ParsedMessage, parseMessage } from "./parse-message.js";
import { type MessageHead, readHead } from "./raw-headers.js";
import { attachmentKeyPrefix, createAttachmentSaver } from "./save-attachment.js";
import { isStored } from "./stored-check.js";

export interface StoreDeps {
  now: Date;
  storage: AttachmentStorage;
  maxAttachmentBytes: number;
  log: Logger;
}

/**
 * Stores `message`. Throws `JobError("bad-input")` only when it cannot be stored at all (not an
 * e-mail); `JobError("transient")` when attachment storage fails, or when the database stays busy
 * or unreachable after a few tries; `JobError("permanent")` when the database itself is broken.
 * Other errors (the database refusing a value of this message) are about the message.
 */
export async function storeMessage(db: Db, message: IncomingMessage, deps: StoreDeps): Promise<StoreOutcome> {
  const dedupeKey = dedupeKeyOf(message);
  const scope = { integration: message.integration, folder: message.folder, uidValidity: message.uidValidity ?? 0 };
  if (await isStored(db, scope, { key: message, dedupeKey }, deps.log)) return { status: "duplicate" };
  return writeMessage(db, await prepareMessage(message, dedupeKey, deps), deps);
}

/** The message's dedupe key; `JobError("bad-input")` when the bytes are not an e-mail. */
export function dedupeKeyOf(message: Pick<IncomingMessage, "source">, head: MessageHead = readHead(message.source)): string {
  if (!head.isMailMessage) throw new JobError("bad-input", "not an e-mail: no header field of a mail message found");
  return dedupeKeyFor(head, message.source);
}

/**
 * Parses `message` and streams its attachments to storage: everything `storeMessage` does before
 * touching a row, so that it can run while the rows of the message before are being written.
 */
export async function prepareMessage(message: IncomingMessage, dedupeKey: string, deps: StoreDeps): Promise<PreparedMessage> {
  const { integration } = message;
  const saveAttachment = createAttachmentSaver(deps.storage, {
    keyPrefix: attachmentKeyPrefix(integration.id, dedupeKey),
    maxAttachmentBytes: deps.maxAttachmentBytes,
  });
  let parsed: ParsedMessage;
  try {
    parsed = await parseMessage(message.source, {
      now: deps.now, internalDate: message.internalDate, isHeaderOnly: message.isOversize, saveAttachment,
    });
  } catch (err) {
    throw new JobError("bad-input", `message could not be parsed: ${shortReason(err, 200)}`, { cause: err });
  }
  const failedSave = parsed.attachments.find((a) => a.saveError !== null);
  if (failedSave) throw new JobError("transient", `attachment could not be stored: ${failedSave.saveError}`);

  const ownAddress = integration.emailAddress?.trim().toLowerCase() || null;
  const isFromOwnAddress = ownAddress !== null && parsed.from.address?.trim().toLowerCase() === ownAddress;
  // A message in INBOX from the mailbox's own address (a copy to itself) is the business's too.
  const isOutbound = message.direction === "outbound" || isFromOwnAddress;
  const effect = conversationEffect(messageRole({ ...parsed, isBackfill: message.isBackfill, isOutbound }));
  // The other party: the sender, or for the company's own mail the people it wrote to.
  const correspondents = isOutbound ? [...parsed.to, ...parsed.cc] : [parsed.from];
  const { content, html, notes } = messageContent(parsed, message);
  return {
    message, dedupeKey, parsed, isOutbound, effect, correspondents, content, html, notes,
    correspondentAddress: correspondents.find((c) => c.address)?.address ?? null,
    subject: pgText(parsed.subject),
  };
}

/** Files a prepared message into its conversation and inserts its rows, in one transaction. */
export async function writeMessage(db: Db, prepared: PreparedMessage, deps: StoreDeps): Promise<StoreOutcome> {
  // The transaction is repeated whole when the database was busy or unreachable (a deadlock, a
  // dropped connection); attachments are already stored and are not written again.
  // A batch of one: the rules of a batch's rows are those of a message's.
  const storeRows = () => db.transaction((tx) => insertBatchRows(tx, [prepared], deps));

  try {
    const [outcome] = await retryTransient(storeRows, { log: deps.log });
    if (!outcome) throw new Error("the message's rows were not written");
    logStored(prepared, outcome, deps);
    return outcome;
  } catch (err) {
    if (err instanceof AlreadyStored) return { status: "duplicate" };
    throw dbFailureOf(err, "storing the message") ?? err;
  }
}
