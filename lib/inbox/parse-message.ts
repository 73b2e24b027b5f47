// Parses one RFC 5322 message into what the inbox stores. It never throws: whatever can be read is
// returned, and what could not is listed in `notes`. Attachment content goes to a sink as the
// parser reaches it, one attachment at a time, so decoded attachments are never all held in memory.
// The base64 bodies of attachments do not go through the parser at all (`pruneMime` lifts them
// out): each is decoded from the message's bytes, piece by piece, when the parser reaches its part.

import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { AddressObject, AttachmentStream, MessageText } from "mailparser";
import { shortReason } from "../errors.js";
import { decodeUtf8OrLegacy, isAscii } from "./decode-legacy-text.js";
import { autoSubmittedOf, isAutoReply, isBounce } from "./detect-automated.js";
import { htmlToReadableText, MAX_HTML_TO_TEXT_CHARS } from "./html-to-text.js";
import { LenientMailParser } from "./lenient-mail-parser.js";
import { chooseMessageDate, type MessageDateSource } from "./message-date.js";
import { messageIdsIn, normalizeMessageId } from "./message-id.js";
import { decodeBase64Pieces } from "./decode-base64.js";
import { LIFTED_PART_FIELD, type LiftedBody, MAX_MIME_PARTS, pruneMime } from "./prune-mime.js";
import { bodyOf, headerValue, type MessageHead, readHead } from "./raw-headers.js";

export interface MailAddress {
  name: string | null;
  address: string | null;
}

export interface AttachmentMeta {
  /** Position among the message's attachments, from 0. */
  index: number;
  /** The decoded file name without any directory part, or a generated one (`piece-jointe-3.pdf`). */
  fileName: string;
  mimeType: string;
  /** `Content-ID` without angle brackets (inline images referenced as `cid:` in the HTML). */
  contentId: string | null;
  isInline: boolean;
}

/** Where a sink put an attachment's content: `path` null when it kept none (over a size limit). */
export interface SavedAttachmentContent {
  path: string | null;
  sizeBytes: number;
}

/**
 * Receives each attachment's decoded content as a stream it must read to its end (a base64 body
 * lifted out of the parser comes decoded piece by piece, `decode-base64.ts`).
 */
export type AttachmentSink = (attachment: AttachmentMeta, content: Readable) => Promise<SavedAttachmentContent>;

export interface ParsedAttachment extends AttachmentMeta {
  sizeBytes: number;
  path: string | null;
  /** Why the sink failed (storage error), null when it did not. */
  saveError: string | null;
}

export interface ParsedMessage {
  /** False when the bytes hold no header field of an e-mail at all (a binary file, garbage). */
  isMailMessage: boolean;
  from: MailAddress;
  to: MailAddress[];
  cc: MailAddress[];
  /** Decoded subject, "" when there is none. */
  subject: string;
  date: Date;
  dateSource: MessageDateSource;
  /** The raw `Date` header, kept for the record. */
  dateHeader: string | null;
  /** Readable text (converted from the HTML when there is no text part); "" when none. */
  text: string;
  html: string | null;
  /** Normalized Message-ID (no angle brackets, domain lowercased). */
  messageId: string | null;
  inReplyTo: string[];
  /** The `References` ids, oldest first, as the header lists them. */
  references: string[];
  autoSubmitted: string | null;
  isAutoReply: boolean;
  isBounce: boolean;
  attachments: ParsedAttachment[];
  /** Attachments beyond MAX_ATTACHMENTS_PER_MESSAGE: drained, not kept. */
  attachmentsOmitted: number;
  /** What could not be parsed or was cut, in short English phrases (for the record and the logs). */
  notes: string[];
}

export interface ParseOptions {
  now: Date;
  /** The server's INTERNALDATE, the fallback for a missing or absurd `Date` header. */
  internalDate: Date | null;
  /** Only the header block was downloaded (the message is over the size limit). */
  isHeaderOnly?: boolean;
  /** Where attachment content goes; by default it is read, measured and dropped. */
  saveAttachment?: AttachmentSink;
}

export { MAX_MIME_PARTS };
export const MAX_ATTACHMENTS_PER_MESSAGE = 100;
const MAX_RECIPIENTS = 200;
/** Names the attachment bodies `pruneMime` lifts out: unguessable from outside, distinct per parse. */
const PROCESS_TAG = randomBytes(12).toString("hex");
let parseCount = 0;
/** A parse still running after this long is abandoned with what it has (a stuck sink, a parser bug). */
export const PARSE_TIMEOUT_MS = 20_000;

/** Parses `source` (a whole message, or only its header block when `isHeaderOnly`). */
export async function parseMessage(source: Buffer, options: ParseOptions): Promise<ParsedMessage> {
  const head = readHead(source);
  const notes: string[] = [];
  const attachments: ParsedAttachment[] = [];
  let attachmentsOmitted = 0;
  const sink = options.saveAttachment ?? measureAndDrop;
  const partTag = `${PROCESS_TAG}${++parseCount}`;
  let input: Buffer | null = null;
  let lifted: LiftedBody[] = [];

  const onAttachment = async (item: AttachmentStream) => {
    if (attachments.length >= MAX_ATTACHMENTS_PER_MESSAGE) {
      attachmentsOmitted++;
      await drain(item.content);
      return;
    }
    const meta = attachmentMeta(item, attachments.length);
    try {
      const body = liftedBodyOf(item, partTag, lifted);
      let content: Readable = item.content;
      if (body && input) {
        await drain(item.content);
        content = Readable.from(decodeBase64Pieces(input.subarray(body.start, body.end)), { objectMode: false });
      }
      const saved = await sink(meta, content);
      attachments.push({ ...meta, ...saved, saveError: null });
    } catch (err) {
      item.content.resume();
      attachments.push({ ...meta, sizeBytes: 0, path: null, saveError: shortReason(err) });
    }
  };

  const parser = new LenientMailParser({
    skipImageLinks: true,
    skipTextToHtml: true,
    skipTextLinks: true,
    checksumAlgo: false,
    // pruneMime keeps the tree within MAX_MIME_PARTS; this is only the backstop should the
    // splitter see a structure differently (the parse then stops early with a note).
    maxChildNodes: MAX_MIME_PARTS * 2,
    // Megabytes of HTML take html-to-text seconds to minutes; htmlToReadableText has a cheaper way.
    maxHtmlLengthToParse: MAX_HTML_TO_TEXT_CHARS,
  });
  input = head.isMailMessage ? parserInput(source, head, options.isHeaderOnly ?? false) : null;
  const pruned = input ? pruneMime(input, { partTag }) : null;
  lifted = pruned?.liftedBodies ?? [];
  const outcome = pruned ? await runParser(parser, pruned.source, onAttachment) : { text: null, error: null };
  if (outcome.error) notes.push(`MIME parsing stopped early: ${shortReason(outcome.error, 120)}`);
  if (pruned?.partsDropped) {
    notes.push(`${pruned.partsDropped} MIME parts beyond the first ${MAX_MIME_PARTS} (or nested too deep) not read`);
    attachmentsOmitted += pruned.attachmentsDropped;
  }
  if (pruned?.headerLinesCut) notes.push(`${pruned.headerLinesCut} overlong header lines cut`);
  if (pruned?.headerFieldsDropped) notes.push(`${pruned.headerFieldsDropped} header fields beyond the size limit of a header block not read`);
  if (attachmentsOmitted) notes.push(`${attachmentsOmitted} attachments beyond the first ${MAX_ATTACHMENTS_PER_MESSAGE} not kept`);

  const html = outcome.text?.html?.trim() ? outcome.text.html : null;
  let text = (outcome.text?.text ?? "").trim();
  if (!text && html) text = await htmlToReadableText(html);
  const from = firstAddress(parser.from) ?? firstAddress(parser.headers ? addressHeader(parser.headers.get("sender")) : undefined);
  const dated = chooseMessageDate(headerValue(head, "date"), options.internalDate, options.now);
  if (dated.source !== "header") notes.push(`date taken from ${dated.source}`);

  return {
    isMailMessage: head.isMailMessage,
    from: from ?? { name: null, address: null },
    to: addressesOf(parser.to),
    cc: addressesOf(parser.cc),
    subject: (parser.subject ?? headerValue(head, "subject") ?? "").replace(/\s+/g, " ").trim(),
    date: dated.date,
    dateSource: dated.source,
    dateHeader: headerValue(head, "date"),
    text,
    html,
    messageId: normalizeMessageId(headerValue(head, "message-id")),
    inReplyTo: messageIdsIn(headerValue(head, "in-reply-to")),
    references: messageIdsIn(head.fields.filter((f) => f.name === "references").map((f) => f.value).join(" ")),
    autoSubmitted: autoSubmittedOf(head),
    isAutoReply: isAutoReply(head),
    isBounce: isBounce(head, bounceScanBody(source, head, pruned?.source ?? null), from?.address ?? null),
    attachments,
    attachmentsOmitted,
    notes,
  };
}

/** The body a bounce is looked for in: the parser's input when there was one (attachments lifted out). */
function bounceScanBody(source: Buffer, head: MessageHead, parserSource: Buffer | null): Buffer {
  if (!parserSource || parserSource === source) return bodyOf(source, head);
  return bodyOf(parserSource, readHead(parserSource));
}

/**
 * What the MIME parser is fed. Header fields must be ASCII, but old clients write their code page
 * raw; mailparser would read those bytes as UTF-8 and lose every accent, so a header block that is
 * not valid UTF-8 is re-encoded first (from the charset the message declares, else Windows-1252).
 */
function parserInput(source: Buffer, head: MessageHead, isHeaderOnly: boolean): Buffer {
  const block = source.subarray(0, head.bodyOffset);
  const body = isHeaderOnly ? Buffer.alloc(0) : source.subarray(head.bodyOffset);
  if (isAscii(block)) return isHeaderOnly ? block : source;
  const charset = /charset\s*=\s*"?([\w.:-]+)/i.exec(headerValue(head, "content-type") ?? "")?.[1];
  return Buffer.concat([Buffer.from(decodeUtf8OrLegacy(block, charset), "utf8"), body]);
}

interface ParserOutcome {
  text: MessageText | null;
  error: Error | null;
}

function runParser(
  parser: LenientMailParser,
  input: Buffer,
  onAttachment: (item: AttachmentStream) => Promise<void>,
): Promise<ParserOutcome> {
  return new Promise((resolve) => {
    let text: MessageText | null = null;
    let current: AttachmentStream | null = null;
    let isReading = false;
    let settled = false;
    const finish = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // A parser that failed may leave the attachment being read without an end: end it here so
      // the sink returns instead of waiting forever.
      if (error) {
        current?.content.destroy(error);
        parser.destroy();
      }
      resolve({ text, error });
    };
    const timer = setTimeout(() => finish(new Error(`not done after ${PARSE_TIMEOUT_MS} ms`)), PARSE_TIMEOUT_MS);
    const readAvailable = async () => {
      if (isReading) return;
      isReading = true;
      try {
        let item: AttachmentStream | MessageText | null;
        while (!settled && (item = parser.read()) !== null) {
          if (item.type === "text") text = item;
          else {
            current = item;
            await onAttachment(item);
            current = null;
            item.release?.();
          }
        }
      } finally {
        isReading = false;
      }
    };
    parser.on("readable", () => {
      readAvailable().catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
    });
    parser.on("error", (err: Error) => finish(err));
    parser.on("end", () => finish(null));
    parser.end(input);
  });
}

/** The body `pruneMime` lifted out of this attachment's part, if it did. */
function liftedBodyOf(item: AttachmentStream, partTag: string, lifted: LiftedBody[]): LiftedBody | null {
  // The message may carry a field of that name itself: only the one with this parse's tag counts.
  const fields = [item.headers?.get(LIFTED_PART_FIELD)].flat();
  const field = fields.find((value): value is string => typeof value === "string" && value.startsWith(`${partTag}:`));
  return field === undefined ? null : (lifted[Number(field.slice(partTag.length + 1))] ?? null);
}

function attachmentMeta(item: AttachmentStream, index: number): AttachmentMeta {
  const mimeType = (item.contentType || "application/octet-stream").toLowerCase();
  return {
    index,
    fileName: displayFileName(item.filename) ?? `piece-jointe-${index + 1}${extensionFor(mimeType)}`,
    mimeType,
    contentId: item.cid?.trim() || null,
    isInline: item.contentDisposition === "inline" || item.related === true,
  };
}

/** A file name as shown to users: no directory part, no control characters, bounded length. */
function displayFileName(name: string | undefined): string | null {
  const base = (name ?? "").split(/[/\\]/).pop() ?? "";
  const cleaned = base.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 255);
  return cleaned && cleaned !== "." && cleaned !== ".." ? cleaned : null;
}

const EXTENSIONS: Record<string, string> = {
  "application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
  "image/webp": ".webp", "text/plain": ".txt", "text/html": ".html", "text/calendar": ".ics",
  "message/rfc822": ".eml", "message/delivery-status": ".txt", "text/rfc822-headers": ".txt",
};

function extensionFor(mimeType: string): string {
  return EXTENSIONS[mimeType] ?? "";
}

function addressHeader(value: unknown): AddressObject | undefined {
  return value && typeof value === "object" && "value" in value ? (value as AddressObject) : undefined;
}

function addressesOf(value: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  for (const header of value ? [value].flat() : []) {
    for (const entry of header.value ?? []) {
      for (const mailbox of entry.group ?? [entry]) {
        if (mailbox.address || mailbox.name) out.push({ name: mailbox.name || null, address: mailbox.address || null });
      }
    }
  }
  return out.slice(0, MAX_RECIPIENTS);
}

function firstAddress(value: AddressObject | undefined): MailAddress | null {
  const all = addressesOf(value);
  return all.find((a) => a.address) ?? all[0] ?? null;
}

async function measureAndDrop(_attachment: AttachmentMeta, content: Readable): Promise<SavedAttachmentContent> {
  let sizeBytes = 0;
  for await (const chunk of content) sizeBytes += (chunk as Buffer).length;
  return { path: null, sizeBytes };
}

async function drain(content: Readable): Promise<void> {
  for await (const _chunk of content) {
    // discarded on purpose: the attachment is over the per-message cap
  }
}
