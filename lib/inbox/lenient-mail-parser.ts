// mailparser's streaming parser, made lenient about body charsets. Every inline text part is
// decoded by one rule instead of trusting its label:
// - 8-bit bytes that form valid UTF-8 are UTF-8, whatever the label says (a "GB2312" or
//   "iso-8859-1" label on UTF-8 text is a common sender bug; the reverse practically never
//   validates, since legacy text would need the exact lead/continuation byte patterns);
// - otherwise the declared charset, decoded by mailparser's own decoder (it knows more legacy
//   charsets than TextDecoder, and refuses UTF-7);
// - otherwise (no charset, a label no decoder knows such as "x-unknown-foo", or us-ascii/utf-8
//   declared over other 8-bit bytes) Windows-1252, instead of turning every accented letter into
//   U+FFFD.
// Pure 7-bit parts keep the declared decoder (ISO-2022-JP is 7-bit).

import { isUtf8 } from "node:buffer";
import { Transform, type TransformCallback } from "node:stream";
import { MailParser, type MailParserOptions } from "mailparser";
import { decodeUtf8OrLegacy, isAscii } from "./decode-legacy-text.js";

/** Prefix of the charset names routed to the guessing decoder (no real part uses it). */
const GUESS_PREFIX = "x-lokario-guess:";

/** Declared charsets that say nothing useful about 8-bit bytes (compared without case and punctuation). */
const UNINFORMATIVE_CHARSETS = new Set(["", "ascii", "usascii", "utf8", "ansix341968", "us"]);

/** The two internal hooks of mailparser 3.x this class overrides (per-node setup, charset decoders). */
interface ParserNode {
  decoder?: unknown;
  isAttachment?: boolean;
  contentType?: string;
  charset?: string;
}
interface CharsetDecoder {
  /** libmime's stream says `supported: false` for a label it does not know (it then reads UTF-8). */
  decodeStream(charset: string): NodeJS.ReadWriteStream & { supported?: boolean };
}
interface ParserHooks {
  createNode?: (this: MailParser, data: unknown) => ParserNode;
  getDecoder?: (this: MailParser) => CharsetDecoder;
}
const baseHooks = MailParser.prototype as unknown as ParserHooks;

/**
 * A MailParser whose text parts survive a missing or wrong charset. No option of mailparser (3.14.5)
 * does this, so the package is pinned to an exact version, and a test compares the methods used here
 * with those this was written for (tests/inbox/lenient-mail-parser.test.ts). If an upgrade drops
 * the hooks, this behaves exactly like MailParser (the charset tests then fail too).
 */
export class LenientMailParser extends MailParser {
  constructor(options: MailParserOptions & { maxChildNodes?: number }) {
    super(options);
  }

  createNode(data: unknown): ParserNode {
    const node = baseHooks.createNode ? baseHooks.createNode.call(this, data) : {};
    if (node.decoder && !node.isAttachment && /^text\//i.test(node.contentType ?? "")) {
      node.charset = `${GUESS_PREFIX}${node.charset ?? ""}`;
    }
    return node;
  }

  getDecoder(): CharsetDecoder {
    const base = baseHooks.getDecoder?.call(this);
    return {
      decodeStream: (charset: string) => {
        if (!charset.startsWith(GUESS_PREFIX)) return base ? base.decodeStream(charset) : new GuessingDecoder(null, null);
        const declared = charset.slice(GUESS_PREFIX.length);
        const isInformative = !UNINFORMATIVE_CHARSETS.has(declared.toLowerCase().replace(/[^a-z0-9]/g, ""));
        return new GuessingDecoder(isInformative ? declared : null, base ?? null);
      },
    };
  }
}

/** Collects a whole text part, then decodes it at once (a guess needs all the bytes). */
class GuessingDecoder extends Transform {
  private readonly chunks: Buffer[] = [];

  constructor(
    private readonly declared: string | null,
    private readonly base: CharsetDecoder | null,
  ) {
    super();
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    const bytes = Buffer.concat(this.chunks);
    const asGuessed = () => Buffer.from(decodeUtf8OrLegacy(bytes), "utf8");
    if (!this.declared || !this.base || (!isAscii(bytes) && isUtf8(bytes))) return done(null, asGuessed());
    let legacy: NodeJS.ReadWriteStream & { supported?: boolean };
    try {
      legacy = this.base.decodeStream(this.declared);
    } catch {
      return done(null, asGuessed());
    }
    if (legacy.supported === false) return done(null, asGuessed());
    const out: Buffer[] = [];
    let settled = false;
    const settle = (result: Buffer) => {
      if (settled) return;
      settled = true;
      done(null, result);
    };
    legacy.on("data", (chunk: Buffer | string) => out.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk));
    legacy.on("end", () => settle(Buffer.concat(out)));
    legacy.on("error", () => settle(asGuessed()));
    legacy.end(bytes);
  }
}
