// Reads the top-level header block of a message straight from its bytes, before and beside the MIME
// parser: the dedupe key, the Date, the threading and automation headers must not depend on how
// well the body parses, and must be the same on every import of the same bytes.

/** One header field: lowercase name, value unfolded (raw bytes as latin1, encoded words kept). */
export interface RawHeaderField {
  name: string;
  value: string;
}

export interface MessageHead {
  fields: RawHeaderField[];
  /** Where the body starts (the source length when only headers were downloaded). */
  bodyOffset: number;
  /** Whether the block holds at least one field an Internet message has (RFC 5322 / RFC 2045). */
  isMailMessage: boolean;
}

/** Fields whose presence says "this is an e-mail", as opposed to a binary file in a mailbox. */
const MAIL_FIELD_NAMES = new Set([
  "from", "to", "cc", "subject", "date", "message-id", "received", "return-path", "mime-version",
  "content-type", "delivered-to", "sender", "reply-to", "in-reply-to", "references",
]);

/** RFC 5322 §2.2: a field name is printable US-ASCII except colon; we also refuse spaces in it. */
const FIELD_LINE = /^([!-9;-~]+)[ \t]*:(.*)$/;

/** Far above any real header block (mailsplit refuses more than 1 MB per MIME node too). */
const MAX_HEADER_BLOCK_BYTES = 1024 * 1024;

/** Splits the header block off `source` and reads its fields. */
export function readHead(source: Buffer): MessageHead {
  const bodyOffset = findBodyOffset(source);
  const block = source.subarray(0, Math.min(bodyOffset, MAX_HEADER_BLOCK_BYTES)).toString("latin1");
  const fields: RawHeaderField[] = [];
  for (const line of block.split(/\r?\n/)) {
    const last = fields[fields.length - 1];
    if (/^[ \t]/.test(line)) {
      // RFC 5322 §2.2.3 unfolding: a continuation line belongs to the field above it.
      if (last) last.value += ` ${line.trim()}`;
      continue;
    }
    const match = FIELD_LINE.exec(line);
    if (match?.[1] !== undefined) fields.push({ name: match[1].toLowerCase(), value: (match[2] ?? "").trim() });
  }
  return { fields, bodyOffset, isMailMessage: fields.some((f) => MAIL_FIELD_NAMES.has(f.name)) };
}

/** The first value of a field, or null. (The first is what the MIME parser and mail clients use.) */
export function headerValue(head: MessageHead, name: string): string | null {
  return head.fields.find((f) => f.name === name)?.value ?? null;
}

/** Every value of a field, in order. */
export function headerValues(head: MessageHead, name: string): string[] {
  return head.fields.filter((f) => f.name === name).map((f) => f.value);
}

/** The body: everything after the blank line that ends the header block. */
export function bodyOf(source: Buffer, head: MessageHead): Buffer {
  return source.subarray(head.bodyOffset);
}

function findBodyOffset(source: Buffer): number {
  // A message may start with the blank line itself (no headers at all).
  if (source.subarray(0, 2).toString("latin1") === "\r\n") return 2;
  if (source[0] === 0x0a) return 1;
  const crlf = source.indexOf("\r\n\r\n");
  // Only a "\n\n" before the first "\r\n\r\n" can come first: no need to search the whole body.
  const lf = (crlf < 0 ? source : source.subarray(0, crlf + 4)).indexOf("\n\n");
  const candidates = [crlf >= 0 ? crlf + 4 : -1, lf >= 0 ? lf + 2 : -1].filter((n) => n >= 0);
  return candidates.length ? Math.min(...candidates) : source.length;
}
