// The rows of one prepared message, written inside a transaction that already holds the
// correspondent's lock (`conversation-locks.ts`): find or create its conversation, lock it, insert
// the message and its attachments, update the conversation. Shared by the one-message transaction
// (`store-message.ts`) and the one-batch transaction (`write-batch.ts`).

import { and, eq, inArray, sql } from "drizzle-orm";
import type { DbOrTx } from "../db/client.js";
import { clients, conversations, inboxMessages, MESSAGE_SOURCE_EMAIL, messageAttachments } from "../db/schema.js";
import type { Logger } from "../log.js";
import { attachmentFileType } from "./attachment-file-type.js";
import type { ConversationEffect } from "./conversation-effect.js";
import { type LockedConversation, lockConversation } from "./conversation-locks.js";
import { pgText } from "./message-content.js";
import { MAX_MESSAGE_ID_CHARS } from "./message-id.js";
import type { MailAddress, ParsedMessage } from "./parse-message.js";
import type { IncomingMessage, PreparedMessage, StoreOutcome } from "./store-message.js";
import { subjectKey } from "./subject-key.js";
import { findConversation, referencedIdsOf } from "./thread.js";

const NO_SUBJECT = "(sans objet)";

/** Another run stored the message between the check and the insert: its transaction is undone. */
export class AlreadyStored extends Error {}

/** How the rows find the company's client for a message's correspondents (a batch caches the answers). */
export type ClientLookup = (tx: DbOrTx, companyId: number, correspondents: MailAddress[]) => Promise<number | null>;

/**
 * Files `prepared` and inserts its rows in `tx`, which holds its correspondent's lock. Throws
 * `AlreadyStored` when its unique keys are taken (the transaction must then be rolled back).
 */
export async function insertMessageRows(
  tx: DbOrTx,
  prepared: PreparedMessage,
  deps: { now: Date },
  clientIdOf: ClientLookup,
): Promise<Extract<StoreOutcome, { status: "stored" }>> {
  const { message, dedupeKey, parsed, isOutbound, effect, correspondents, correspondentAddress, subject, content, html, notes } = prepared;
  const { integration } = message;
  const clientId = await clientIdOf(tx, integration.companyId, correspondents);
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
}

/** The debug line of a stored message (a warning when the parser gave up part of it). */
export function logStored(prepared: PreparedMessage, outcome: Extract<StoreOutcome, { status: "stored" }>, deps: { log: Logger }): void {
  const { parsed, notes, message } = prepared;
  // Notes say what was cut or unreadable (never content): worth a look when the parser gave up.
  const isPartial = parsed.notes.some((n) => n.startsWith("MIME parsing stopped early"));
  deps.log[isPartial ? "warn" : "debug"]("message stored", {
    uid: message.uid, messageId: outcome.messageId, conversationId: outcome.conversationId, notes: [...parsed.notes, ...notes],
  });
}

/** The company's client writing (or written to), matched by address without case; never created. */
export async function findClientId(tx: DbOrTx, companyId: number, correspondents: MailAddress[]): Promise<number | null> {
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
  tx: DbOrTx,
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
  tx: DbOrTx,
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
