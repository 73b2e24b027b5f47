// Imports one fetched message: parse it, store its attachments, then in one short transaction file
// it into a conversation and insert it. Storing the same message again (same UID, or same
// Message-ID under another UID or in another folder: a message in both INBOX and Sent) changes
// nothing; two runs storing it at once give one row. A follow-up the product sent is already a row
// (`record-send.ts`): its copy filed in the Sent folder by the server is recognised by its
// Message-ID and not stored again.
//
// Three steps, which the folder import runs apart (`import-batch.ts`): the check for a message
// already stored (`stored-check.ts`), `prepareMessage` (parse, attachments), `writeMessage` (rows).
// Order matters. Attachments are written first, outside the transaction (no slow I/O while rows
// are locked), under keys derived from the message's dedupe key, so a retry after a crash
// overwrites the same files. The message row, its attachment rows and the conversation change
// then commit together or not at all; a message that turns out to be a duplicate at insert time
// rolls back the conversation it would have created. How a message affects its conversation
// (read, unread count, status, backfill) is in `conversation-effect.ts`; the locks the transaction
// takes, and why they cannot deadlock, in `conversation-locks.ts`. A database that is busy or
// unreachable (a deadlock, a dropped connection) is retried a few times, then reported as
// transient: the message is never blamed for it.

import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { retryTransient } from "../db/retry-transient.js";
import { dbFailureOf } from "../db/transient-error.js";
import {
  clients,
  conversations,
  inboxMessages,
  MESSAGE_SOURCE_EMAIL,
  type MessageDirection,
  messageAttachments,
} from "../db/schema.js";
import { JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import { attachmentFileType } from "./attachment-file-type.js";
import { conversationEffect, type ConversationEffect, messageRole } from "./conversation-effect.js";
import { type LockedConversation, lockConversation, lockCorrespondent } from "./conversation-locks.js";
import { dedupeKeyFor } from "./dedupe-key.js";
import { isStored } from "./stored-check.js";
import { messageContent, pgText } from "./message-content.js";
import { MAX_MESSAGE_ID_CHARS } from "./message-id.js";
import { type MailAddress, type ParsedMessage, parseMessage } from "./parse-message.js";
import { readHead } from "./raw-headers.js";
import { attachmentKeyPrefix, createAttachmentSaver } from "./save-attachment.js";
import { subjectKey } from "./subject-key.js";
import { findConversation, referencedIdsOf } from "./thread.js";

export interface IncomingMessage {
  integration: { id: number; companyId: number; emailAddress: string | null };
  folder: string;
  /** The folder's: `outbound` (Sent) is the business's own mail, whoever it names as sender. */
  direction: MessageDirection;
  uidValidity: number;
  uid: number;
  /** The full RFC 822 bytes, or only the header block when `isOversize`. */
  source: Buffer;
  /** The server's RFC822.SIZE. */
  sizeBytes: number;
  /** The server's INTERNALDATE. */
  internalDate: Date | null;
  /** Only the headers were downloaded (over MAX_MESSAGE_BYTES): stored with a placeholder body. */
  isOversize: boolean;
  /** Imported by a first sync or a resync window: stored read, never triggers automation. */
  isBackfill: boolean;
}

export type StoreOutcome = { status: "stored"; messageId: number; conversationId: number } | { status: "duplicate" };

export interface StoreDeps {
  now: Date;
  storage: AttachmentStorage;
  maxAttachmentBytes: number;
  log: Logger;
}

const NO_SUBJECT = "(sans objet)";

/**
 * Stores `message`. Throws `JobError("bad-input")` only when it cannot be stored at all (not an
 * e-mail); `JobError("transient")` when attachment storage fails, or when the database stays busy
 * or unreachable after a few tries; `JobError("permanent")` when the database itself is broken.
 * Other errors (the database refusing a value of this message) are about the message.
 */
export async function storeMessage(db: Db, message: IncomingMessage, deps: StoreDeps): Promise<StoreOutcome> {
  const dedupeKey = dedupeKeyOf(message);
  if (await isStored(db, message, dedupeKey, deps.log)) return { status: "duplicate" };
  return writeMessage(db, await prepareMessage(message, dedupeKey, deps), deps);
}

/** The message's dedupe key; `JobError("bad-input")` when the bytes are not an e-mail. */
export function dedupeKeyOf(message: Pick<IncomingMessage, "source">): string {
  const head = readHead(message.source);
  if (!head.isMailMessage) throw new JobError("bad-input", "not an e-mail: no header field of a mail message found");
  return dedupeKeyFor(head, message.source);
}

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
  const { message, dedupeKey, parsed, isOutbound, effect, correspondents, correspondentAddress, subject, content, html, notes } = prepared;
  const { integration } = message;
  // The transaction is repeated whole when the database was busy or unreachable (a deadlock, a
  // dropped connection); attachments are already stored and are not written again.
  const storeRows = () =>
    db.transaction(async (tx) => {
      // Locks are taken in the order `conversation-locks.ts` explains, before anything is written.
      await lockCorrespondent(tx, integration.companyId, correspondentAddress);
      const clientId = await findClientId(tx, integration.companyId, correspondents);
      const existingId = await findConversation(tx, integration.companyId, {
        referencedIds: referencedIdsOf(parsed),
        subjectKey: subjectKey(subject),
        correspondentAddress,
        date: parsed.date,
      });
      const existing = existingId === null ? null : await lockConversation(tx, existingId);
      const conversationId =
        existingId !== null && existing !== null
          ? existingId
          : await createConversation(tx, { companyId: integration.companyId, integrationId: integration.id, clientId, subject, effect, date: parsed.date, now: deps.now });
      const inserted = await tx
        .insert(inboxMessages)
        .values({
          conversationId,
          fromName: parsed.from.name === null ? null : pgText(parsed.from.name),
          fromEmail: parsed.from.address === null ? null : pgText(parsed.from.address),
          content,
          source: MESSAGE_SOURCE_EMAIL,
          isFromClient: !isOutbound,
          read: effect.isRead,
          externalId: parsed.messageId && parsed.messageId.length <= MAX_MESSAGE_ID_CHARS ? `<${parsed.messageId}>` : null,
          externalMetadata: externalMetadata(parsed, message, [...parsed.notes, ...notes]),
          integrationId: integration.id,
          folder: message.folder,
          uidValidity: message.uidValidity,
          uid: message.uid,
          dedupeKey,
          htmlContent: html,
          isAutoReply: parsed.isAutoReply,
          isBounce: parsed.isBounce,
          isBackfill: message.isBackfill,
          sizeBytes: message.sizeBytes,
          importedAt: deps.now,
          createdAt: parsed.date,
        })
        .onConflictDoNothing()
        .returning({ id: inboxMessages.id });
      const messageId = inserted[0]?.id;
      // Another run stored it between our check and now: undo the conversation we may have made.
      if (messageId === undefined) throw new AlreadyStored();
      if (parsed.attachments.length) {
        await tx.insert(messageAttachments).values(
          parsed.attachments.map((a) => ({
            messageId,
            name: pgText(a.fileName),
            fileType: attachmentFileType(a.mimeType, a.fileName),
            filePath: a.path,
            fileSize: a.sizeBytes,
            mimeType: pgText(a.mimeType),
            contentId: a.contentId === null ? null : pgText(a.contentId),
            isStored: a.path !== null,
          })),
        );
      }
      if (existing !== null) await updateConversation(tx, conversationId, existing, { clientId, effect, date: parsed.date, now: deps.now });
      return { status: "stored" as const, messageId, conversationId };
    });

  try {
    const outcome = await retryTransient(storeRows, { log: deps.log });
    // Notes say what was cut or unreadable (never content): worth a look when the parser gave up.
    const isPartial = parsed.notes.some((n) => n.startsWith("MIME parsing stopped early"));
    deps.log[isPartial ? "warn" : "debug"]("message stored", {
      uid: message.uid, messageId: outcome.messageId, conversationId: outcome.conversationId, notes: [...parsed.notes, ...notes],
    });
    return outcome;
  } catch (err) {
    if (err instanceof AlreadyStored) return { status: "duplicate" };
    throw dbFailureOf(err, "storing the message") ?? err;
  }
}

class AlreadyStored extends Error {}

/** The company's client writing (or written to), matched by address without case; never created. */
async function findClientId(tx: Db, companyId: number, correspondents: MailAddress[]): Promise<number | null> {
  const addresses = [...new Set(correspondents.map((c) => pgText(c.address ?? "").trim().toLowerCase()).filter(Boolean))];
  if (addresses.length === 0) return null;
  const rows = await tx
    .select({ id: clients.id, email: sql<string>`lower(${clients.email})` })
    .from(clients)
    .where(and(eq(clients.companyId, companyId), inArray(sql`lower(${clients.email})`, addresses)))
    .orderBy(clients.id);
  for (const address of addresses) {
    const match = rows.find((r) => r.email === address);
    if (match) return match.id;
  }
  return null;
}

async function createConversation(
  tx: Db,
  values: { companyId: number; integrationId: number; clientId: number | null; subject: string; effect: ConversationEffect; date: Date; now: Date },
): Promise<number> {
  const [row] = await tx
    .insert(conversations)
    .values({
      companyId: values.companyId,
      integrationId: values.integrationId,
      clientId: values.clientId,
      subject: values.subject || NO_SUBJECT,
      subjectKey: subjectKey(values.subject),
      status: values.effect.newConversationStatus,
      source: MESSAGE_SOURCE_EMAIL,
      unreadCount: values.effect.isRead ? 0 : 1,
      lastMessageAt: values.date,
      createdAt: values.now,
      updatedAt: values.now,
    })
    .returning({ id: conversations.id });
  if (!row) throw new Error("conversation insert returned no row");
  return row.id;
}

async function updateConversation(
  tx: Db,
  conversationId: number,
  current: LockedConversation,
  change: { clientId: number | null; effect: ConversationEffect; date: Date; now: Date },
): Promise<void> {
  const isLater = !current.lastMessageAt || current.lastMessageAt.getTime() < change.date.getTime();
  const isLatest = !current.lastMessageAt || current.lastMessageAt.getTime() <= change.date.getTime();
  await tx
    .update(conversations)
    .set({
      status: change.effect.nextStatus(current.status, isLatest),
      unreadCount: change.effect.isRead ? undefined : sql`${conversations.unreadCount} + 1`,
      lastMessageAt: isLater ? change.date : current.lastMessageAt,
      clientId: current.clientId ?? change.clientId,
      updatedAt: change.now,
    })
    .where(eq(conversations.id, conversationId));
}

/** The headers that matter, never the body (it is in `content`); bounded in size. */
function externalMetadata(parsed: ParsedMessage, message: IncomingMessage, notes: string[]): Record<string, unknown> {
  const addresses = (list: MailAddress[]) =>
    list.slice(0, 50).map((a) => ({ name: a.name === null ? null : pgText(a.name), address: a.address === null ? null : pgText(a.address) }));
  return {
    messageId: parsed.messageId === null ? null : pgText(parsed.messageId),
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    date: parsed.date.toISOString(),
    dateHeader: parsed.dateHeader === null ? null : pgText(parsed.dateHeader.slice(0, 200)),
    dateSource: parsed.dateSource,
    inReplyTo: parsed.inReplyTo.slice(0, 10).map(pgText),
    references: parsed.references.slice(-50).map(pgText),
    autoSubmitted: parsed.autoSubmitted === null ? null : pgText(parsed.autoSubmitted),
    isAutoReply: parsed.isAutoReply,
    isBounce: parsed.isBounce,
    isOversize: message.isOversize,
    isBackfill: message.isBackfill,
    sizeBytes: message.sizeBytes,
    attachmentsOmitted: parsed.attachmentsOmitted,
    notes: notes.map(pgText),
  };
}
