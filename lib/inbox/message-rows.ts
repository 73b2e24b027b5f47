// The rows of prepared messages (one downloaded batch, or one message: a batch of one), written in
// the caller's transaction in a fixed number of statements, whatever the number of messages: the
// correspondents' locks, the clients, the two threading queries, the conversations' locks (in the
// order `conversation-locks.ts` explains), then one insert each of the new conversations, the
// messages and their attachments, and one update of the stored conversations. Where each message
// goes, and what each conversation becomes, is decided in memory first (`filing-plan.ts`), as
// filing the messages one at a time in UID order would. The fixed statements are written as SQL
// over JSON rows (`json-rows.ts`): built per message by the query builder, their parameters cost
// more main-thread time than the database took to run them.

import { getTableName, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type DbOrTx, rowsOf } from "../db/client.js";
import { columnName, jsonRows } from "../db/json-rows.js";
import { clients, conversations, inboxMessages, MESSAGE_SOURCE_EMAIL, messageAttachments } from "../db/schema.js";
import type { Logger } from "../log.js";
import { attachmentFileType } from "./attachment-file-type.js";
import { lockConversations, lockCorrespondents } from "./conversation-locks.js";
import { type FilingPlan, planFiling } from "./filing-plan.js";
import type { IncomingMessage, PreparedMessage, StoreOutcome } from "./incoming-message.js";
import { pgText } from "./message-content.js";
import { mailboxAddressOf } from "./mailbox-address.js";
import { MAX_MESSAGE_ID_CHARS } from "./message-id.js";
import type { MailAddress, ParsedMessage } from "./parse-message.js";
import { subjectKey } from "./subject-key.js";
import { conversationIdsOf, findThreadingFacts, referencedIdsOf, type ThreadedMessage } from "./thread.js";

const NO_SUBJECT = "(sans objet)";

/** Another run stored a message between the check and the insert: its transaction is undone. */
export class AlreadyStored extends Error {}

export type Stored = Extract<StoreOutcome, { status: "stored" }>;

/**
 * Files `batch` (messages of one company, in UID order, distinct dedupe keys) and inserts its rows
 * in `tx`; returns each message's outcome, in order. Throws `AlreadyStored` when a message's unique
 * keys are taken (the transaction must then be rolled back).
 */
export async function insertBatchRows(tx: DbOrTx, batch: PreparedMessage[], deps: { now: Date }): Promise<Stored[]> {
  if (batch.length === 0) return [];
  const { companyId } = batch[0]!.message.integration;
  await lockCorrespondents(tx, companyId, batch.map((p) => p.correspondentAddress));
  // Clients are never created by the import: one look-up holds for the whole transaction.
  const clientIds = await findClientIds(tx, companyId, batch.map((p) => p.correspondents));
  const threaded = batch.map(threadedMessageOf);
  const facts = await findThreadingFacts(tx, companyId, threaded);
  const stored = await lockConversations(tx, conversationIdsOf(facts));
  const plan = planFiling(
    threaded.map((t, i) => ({ keys: t.keys, externalId: t.externalId, effect: batch[i]!.effect, clientId: clientIds[i]! })),
    facts,
    stored,
  );
  await insertConversations(tx, batch, plan, deps.now);
  const conversationIds = plan.conversationOf.map((c) => c.id!);
  const messageIds = await insertMessages(tx, batch, threaded, conversationIds, deps.now);
  await insertAttachments(tx, batch, messageIds);
  await updateConversations(tx, plan, deps.now);
  return batch.map((_, i) => ({ status: "stored" as const, messageId: messageIds[i]!, conversationId: conversationIds[i]! }));
}

/** The debug line of a stored message (a warning when the parser gave up part of it). */
export function logStored(prepared: PreparedMessage, outcome: Stored, deps: { log: Logger }): void {
  const { parsed, notes, message } = prepared;
  // Notes say what was cut or unreadable (never content): worth a look when the parser gave up.
  const isPartial = parsed.notes.some((n) => n.startsWith("MIME parsing stopped early"));
  deps.log[isPartial ? "warn" : "debug"]("message stored", {
    uid: message.uid, sourceMessageId: message.sourceMessageId, messageId: outcome.messageId, conversationId: outcome.conversationId, notes: [...parsed.notes, ...notes],
  });
}

/**
 * Per message, the company's client writing (or written to): its first correspondent address that
 * matches a client's, without case (the oldest such client); never created. One query for all.
 */
export async function findClientIds(tx: DbOrTx, companyId: number, correspondentsOf: MailAddress[][]): Promise<(number | null)[]> {
  const addressesOf = correspondentsOf.map((correspondents) => [
    ...new Set(correspondents.map((c) => pgText(c.address ?? "").trim().toLowerCase()).filter(Boolean)),
  ]);
  const addresses = [...new Set(addressesOf.flat())];
  if (addresses.length === 0) return addressesOf.map(() => null);
  const result = await tx.execute(sql`
    select ${clients.id} as id, lower(${clients.email}) as email from ${clients}
    where ${clients.companyId} = ${companyId} and lower(${clients.email}) = any(${sql.param(addresses)}::text[])
    order by ${clients.id}`);
  const clientOf = new Map<string, number>();
  for (const row of rowsOf<{ id: number; email: string }>(result)) if (!clientOf.has(row.email)) clientOf.set(row.email, row.id);
  return addressesOf.map((list) => list.map((address) => clientOf.get(address)).find((id) => id !== undefined) ?? null);
}

function threadedMessageOf({ parsed, subject, correspondentAddress }: PreparedMessage): ThreadedMessage {
  return {
    keys: { referencedIds: referencedIdsOf(parsed), subjectKey: subjectKey(subject), correspondentAddress, date: parsed.date },
    externalId: parsed.messageId && parsed.messageId.length <= MAX_MESSAGE_ID_CHARS ? `<${parsed.messageId}>` : null,
    fromAddress: parsed.from.address === null ? null : pgText(parsed.from.address),
  };
}

/**
 * Inserts the conversations `plan` creates and gives each its id. The ids are drawn from the
 * table's sequence first, so that each row's id is known for certain (the order of RETURNING's rows
 * is not something PostgreSQL promises).
 */
async function insertConversations(tx: DbOrTx, batch: PreparedMessage[], plan: FilingPlan, now: Date): Promise<void> {
  if (plan.created.length === 0) return;
  const drawn = await tx.execute(
    sql`select nextval(pg_get_serial_sequence(${getTableName(conversations)}, ${conversations.id.name})) as id from generate_series(1, ${plan.created.length})`,
  );
  const ids = rowsOf<{ id: number | string }>(drawn).map((r) => Number(r.id));
  if (ids.length !== plan.created.length) throw new Error(`drew ${ids.length} conversation ids for ${plan.created.length}`);
  const rows = plan.created.map(({ startedBy, subjectKey: key, state }, i) => {
    const { message, subject } = batch[startedBy!]!;
    return {
      id: ids[i]!, companyId: message.integration.companyId, integrationId: message.integration.id, clientId: state.clientId,
      subject: subject || NO_SUBJECT, subjectKey: key, status: state.status, source: MESSAGE_SOURCE_EMAIL,
      unreadCount: state.unreadAdded, lastMessageAt: state.lastMessageAt, createdAt: now, updatedAt: now,
    };
  });
  const { columns, recordset } = jsonRows(conversations, rows);
  await tx.execute(sql`insert into ${conversations} (${columns}) select ${columns} from ${recordset}`);
  for (const [i, conversation] of plan.created.entries()) conversation.id = ids[i]!;
}

/** Inserts the messages; their ids, in order. `AlreadyStored` when one is already there. */
async function insertMessages(tx: DbOrTx, batch: PreparedMessage[], threaded: ThreadedMessage[], conversationIds: number[], now: Date): Promise<number[]> {
  const rows = batch.map((prepared, i) => {
    const { message, dedupeKey, parsed, isOutbound, effect, content, html, notes } = prepared;
    return {
      conversationId: conversationIds[i]!,
      fromName: parsed.from.name === null ? null : pgText(parsed.from.name),
      fromEmail: threaded[i]!.fromAddress,
      content,
      source: MESSAGE_SOURCE_EMAIL,
      isFromClient: !isOutbound,
      read: effect.isRead,
      externalId: threaded[i]!.externalId,
      externalMetadata: externalMetadata(parsed, message, [...parsed.notes, ...notes]),
      integrationId: message.integration.id,
      folder: message.folder,
      uidValidity: message.uidValidity ?? null,
      uid: message.uid ?? null,
      sourceMessageId: message.sourceMessageId ?? null,
      sourceThreadId: message.sourceThreadId ?? null,
      dedupeKey,
      companyId: message.integration.companyId,
      mailboxAddress: mailboxAddressOf(message.integration),
      htmlContent: html,
      isAutoReply: parsed.isAutoReply,
      isBounce: parsed.isBounce,
      isBackfill: message.isBackfill,
      sizeBytes: message.sizeBytes,
      importedAt: now,
      createdAt: parsed.date,
    };
  });
  const { columns, recordset } = jsonRows(inboxMessages, rows);
  const result = await tx.execute(sql`
    insert into ${inboxMessages} (${columns}) select ${columns} from ${recordset}
    on conflict do nothing
    returning ${inboxMessages.id} as id, ${inboxMessages.dedupeKey} as dedupe_key`);
  const idOf = new Map(rowsOf<{ id: number; dedupe_key: string }>(result).map((r) => [r.dedupe_key, r.id]));
  const ids = batch.map((p) => idOf.get(p.dedupeKey));
  // Another run stored one between our check and now: undo the conversations we may have made.
  if (ids.some((id) => id === undefined)) throw new AlreadyStored();
  return ids as number[];
}

async function insertAttachments(tx: DbOrTx, batch: PreparedMessage[], messageIds: number[]): Promise<void> {
  const rows = batch.flatMap(({ parsed }, i) =>
    parsed.attachments.map((a) => ({
      messageId: messageIds[i]!,
      name: pgText(a.fileName),
      fileType: attachmentFileType(a.mimeType, a.fileName),
      filePath: a.path,
      fileSize: a.sizeBytes,
      mimeType: pgText(a.mimeType),
      contentId: a.contentId === null ? null : pgText(a.contentId),
      isStored: a.path !== null,
    })),
  );
  if (rows.length === 0) return;
  const { columns, recordset } = jsonRows(messageAttachments, rows);
  await tx.execute(sql`insert into ${messageAttachments} (${columns}) select ${columns} from ${recordset}`);
}

/** The stored conversations the batch filed into, each as its messages left it (`unread_count`: what they add). */
async function updateConversations(tx: DbOrTx, plan: FilingPlan, now: Date): Promise<void> {
  if (plan.updated.length === 0) return;
  const rows = plan.updated.map(({ id, state }) => ({
    id: id!, status: state.status, unreadCount: state.unreadAdded, lastMessageAt: state.lastMessageAt, clientId: state.clientId, updatedAt: now,
  }));
  const { recordset } = jsonRows(conversations, rows, "u");
  const set = (column: PgColumn) => sql`${columnName(column)} = u.${columnName(column)}`;
  await tx.execute(sql`
    update ${conversations}
    set ${set(conversations.status)}, ${set(conversations.lastMessageAt)}, ${set(conversations.clientId)}, ${set(conversations.updatedAt)},
      ${columnName(conversations.unreadCount)} = ${conversations.unreadCount} + u.${columnName(conversations.unreadCount)}
    from ${recordset}
    where ${conversations.id} = u.${columnName(conversations.id)}`);
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
