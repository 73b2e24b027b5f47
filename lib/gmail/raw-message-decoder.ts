// Turns the answer of `users.messages.get?format=raw` into the message's bytes as the answer streams
// in. The `raw` field (the whole RFC 822 message, base64url) is decoded chunk by chunk and never held
// as text: reading the JSON whole would hold the answer, then the parsed base64 string, then the
// bytes (about 3.7 times the message); here the bytes are held once, plus one network chunk. When
// the answer gives `sizeEstimate` before `raw` (Gmail's field order), the bytes go straight into one
// buffer of that size; otherwise into pieces joined at the end. Every other field is kept as JSON
// text with `raw` emptied, and parsed at the end. Written here: streaming JSON parsers hand a string
// value over whole, which is the copy this avoids.

import type { gmail_v1 } from "@googleapis/gmail";
import { JobError } from "../errors.js";

export interface DecodedRawMessage {
  /** The answer's other fields (`id`, `threadId`, `labelIds`, `historyId`, `internalDate`, `sizeEstimate`…). */
  message: Omit<gmail_v1.Schema$Message, "raw">;
  /** The whole message, or only its header block when `isOversize`. */
  source: Buffer;
  /** Over the size limit: only the header block was decoded, and the rest of the answer not read. */
  isOversize: boolean;
}

/** Bytes of a message kept when it is over the limit: enough for any real header block. */
export const OVERSIZE_HEAD_BYTES = 256 * 1024;
/** The JSON around `raw` (ids, labels, snippet) is small; more is not Gmail's answer. */
const MAX_OTHER_FIELDS_BYTES = 256 * 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const BASE64URL_TEXT = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Feed the answer's bytes to `write` in order, then call `end` once. `write` returns false once the
 * message is known to be over `maxBytes`: stop reading (cancel the body) and call `end`.
 */
export class RawMessageDecoder {
  private readonly maxBytes: number;
  private depth = 0;
  private isInString = false;
  private isEscaped = false;
  private keyBytes: number[] | null = null;
  private lastString: string | null = null;
  private pendingKey: string | null = null;
  private isInRaw = false;
  private hasRaw = false;
  private sizeDigits: string | null = null;
  private sizeEstimate: number | undefined;
  private carry = "";
  private hasPadding = false;
  private readonly otherFields: Buffer[] = [];
  private otherFieldsBytes = 0;
  private readonly output = new ByteSink();
  /** Over the limit: nothing more is read. */
  private isStopped = false;

  constructor(options: { maxBytes: number }) {
    this.maxBytes = options.maxBytes;
  }

  write(chunk: Uint8Array): boolean {
    if (this.isStopped) return false;
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let keptFrom = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (this.isInRaw) {
        const end = bytes.indexOf(QUOTE, i);
        this.decode(bytes.subarray(i, end === -1 ? bytes.length : end));
        if (this.isStopped) return false;
        if (end === -1) return true;
        this.isInRaw = false;
        this.isInString = false;
        this.flushCarry();
        // The closing quote is kept, so the other fields read `"raw":""`.
        keptFrom = end;
        i = end;
        continue;
      }
      const byte = bytes[i]!;
      this.scan(byte);
      if (this.isInRaw) {
        this.keep(bytes.subarray(keptFrom, i + 1));
        keptFrom = i + 1;
        this.output.reserve(this.sizeEstimate === undefined ? undefined : Math.min(this.sizeEstimate, this.limit()));
      }
    }
    if (!this.isInRaw) this.keep(bytes.subarray(keptFrom));
    return true;
  }

  end(): DecodedRawMessage {
    if (!this.isStopped && (this.isInString || this.depth !== 0 || !this.hasRaw)) {
      throw new JobError("transient", "Gmail API users.messages.get: the answer has no complete `raw` message");
    }
    // Stopped early, the fields after `raw` were never read: only the size, when it came first.
    const message = this.isStopped ? (this.sizeEstimate === undefined ? {} : { sizeEstimate: this.sizeEstimate }) : this.otherFieldsParsed();
    const source = this.output.result();
    const isOversize = this.isStopped || source.length > this.maxBytes;
    return { message, source: isOversize ? headerBlockOf(source.subarray(0, OVERSIZE_HEAD_BYTES)) : source, isOversize };
  }

  private otherFieldsParsed(): Omit<gmail_v1.Schema$Message, "raw"> {
    let message: gmail_v1.Schema$Message;
    try {
      message = JSON.parse(Buffer.concat(this.otherFields).toString("utf8")) as gmail_v1.Schema$Message;
    } catch {
      throw new JobError("transient", "Gmail API users.messages.get: the answer is not JSON");
    }
    const { raw: _raw, ...fields } = message;
    return fields;
  }

  /** One byte outside `raw`: JSON structure, keys, and the start of `raw`'s value. */
  private scan(byte: number): void {
    if (this.isInString) {
      if (this.isEscaped) this.isEscaped = false;
      else if (byte === BACKSLASH) this.isEscaped = true;
      else if (byte === QUOTE) {
        this.isInString = false;
        this.lastString = this.keyBytes ? String.fromCharCode(...this.keyBytes) : null;
        this.keyBytes = null;
        return;
      }
      if (this.keyBytes && this.keyBytes.length < 32) this.keyBytes.push(byte);
      else this.keyBytes = null;
      return;
    }
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) return;
    const key = this.pendingKey;
    this.pendingKey = null;
    if (this.sizeDigits !== null) {
      if (byte >= 0x30 && byte <= 0x39) {
        this.sizeDigits += String.fromCharCode(byte);
        return;
      }
      this.sizeEstimate = Number(this.sizeDigits);
      this.sizeDigits = null;
    }
    if (byte === QUOTE) {
      this.isInString = true;
      if (this.depth === 1 && key === "raw") {
        this.isInRaw = true;
        this.hasRaw = true;
      } else {
        this.keyBytes = this.depth === 1 && key === null ? [] : null;
      }
    } else if (byte === COLON && this.depth === 1) {
      this.pendingKey = this.lastString;
    } else if (byte === 0x7b || byte === 0x5b) {
      this.depth++;
    } else if (byte === 0x7d || byte === 0x5d) {
      this.depth--;
    } else if (this.depth === 1 && key === "sizeEstimate" && byte >= 0x30 && byte <= 0x39) {
      this.sizeDigits = String.fromCharCode(byte);
    }
    if (byte !== COLON) this.lastString = null;
  }

  private keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.otherFieldsBytes += bytes.length;
    if (this.otherFieldsBytes > MAX_OTHER_FIELDS_BYTES) throw new JobError("transient", "Gmail API users.messages.get: the answer's fields besides the message are too large");
    // Copied: the network chunk it points into is reused.
    this.otherFields.push(Buffer.from(bytes));
  }

  /** Decodes base64url text in groups of four characters; up to three wait for the next chunk. */
  private decode(segment: Buffer): void {
    if (segment.length === 0) return;
    const text = this.carry + segment.toString("latin1");
    if (this.hasPadding || !BASE64URL_TEXT.test(text)) throw new JobError("transient", "Gmail API users.messages.get: `raw` is not base64url");
    const whole = text.length - (text.length % 4);
    const quads = text.slice(0, whole);
    this.carry = text.slice(whole);
    // Padding ends the data: a padded group already decoded leaves nothing to come.
    if (quads.endsWith("=")) this.hasPadding = true;
    this.emit(quads);
  }

  private flushCarry(): void {
    if (this.isStopped) return;
    if (this.carry.length === 1) throw new JobError("transient", "Gmail API users.messages.get: `raw` is truncated base64url");
    this.emit(this.carry);
    this.carry = "";
  }

  private emit(text: string): void {
    if (text.length === 0) return;
    this.output.writeBase64url(text);
    if (this.output.length > this.limit()) this.isStopped = true;
  }

  /** Past this, the message is over the limit: its size said so, or its bytes do. */
  private limit(): number {
    return this.sizeEstimate !== undefined && this.sizeEstimate > this.maxBytes ? OVERSIZE_HEAD_BYTES : this.maxBytes;
  }
}

/** Decoded bytes: into one buffer of the announced size while they fit, else into pieces. */
class ByteSink {
  private buffer: Buffer | null = null;
  private pieces: Buffer[] = [];
  length = 0;

  reserve(sizeBytes: number | undefined): void {
    if (sizeBytes !== undefined && sizeBytes > 0 && this.length === 0) this.buffer = Buffer.allocUnsafe(sizeBytes);
  }

  writeBase64url(text: string): void {
    const decodedBytes = Buffer.byteLength(text, "base64url");
    if (this.buffer && this.length + decodedBytes <= this.buffer.length) {
      this.length += this.buffer.write(text, this.length, "base64url");
      return;
    }
    if (this.buffer) {
      // The size was an estimate and the message is longer: keep what is written, go on in pieces.
      this.pieces.push(this.buffer.subarray(0, this.length));
      this.buffer = null;
    }
    const piece = Buffer.from(text, "base64url");
    this.pieces.push(piece);
    this.length += piece.length;
  }

  result(): Buffer {
    if (this.buffer) return this.buffer.subarray(0, this.length);
    return this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.length);
  }
}

/** The header block of a message's first bytes (up to the first empty line, or all of them), copied out of the large buffer. */
function headerBlockOf(head: Buffer): Buffer {
  const crlf = head.indexOf("\r\n\r\n");
  const lf = head.indexOf("\n\n");
  const end = crlf !== -1 ? crlf + 4 : lf !== -1 ? lf + 2 : head.length;
  return Buffer.from(head.subarray(0, end));
}
