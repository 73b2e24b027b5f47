// How long an SMS is, counted the way operators bill it (3GPP TS 23.038 and 23.040): a text whose
// every character is in the GSM 7-bit alphabet costs 160 septets in one message, or 153 per segment
// once concatenated (the 6-byte concatenation header takes the rest); a single character outside it
// (`ê`, `’`, an emoji) turns the whole text into UCS-2, 70 units in one message, 67 per segment.
// Characters of the extension table (`€`, `[`, `{`…) cost two septets. Also splits and encodes the
// segments for SMPP, never cutting an escape sequence or a surrogate pair in two.

export type SmsEncoding = "gsm7" | "ucs2";

export interface SmsLength {
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  segments: number;
}

/** One segment ready for an SMPP `submit_sm`: its bytes and their `data_coding`. */
export interface EncodedSegment {
  bytes: Buffer;
  dataCoding: number;
}

// GSM 03.38 default alphabet, in code order (index = septet value); ESC (0x1B) is shown as \u001b.
const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
// Extension table: character → the septet that follows ESC.
const GSM_EXTENSION: Record<string, number> = { "\f": 0x0a, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2f, "[": 0x3c, "~": 0x3d, "]": 0x3e, "|": 0x40, "€": 0x65 };
const GSM_INDEX = new Map([...GSM_BASIC].map((c, i) => [c, i] as const));
const ESC = 0x1b;

const LIMITS = {
  gsm7: { single: 160, perSegment: 153 },
  ucs2: { single: 70, perSegment: 67 },
} as const;
/** SMPP data_coding: 0 = the SMSC's default alphabet (GSM 03.38), 8 = UCS-2 (UTF-16BE). */
const DATA_CODING = { gsm7: 0x00, ucs2: 0x08 } as const;

/** The encoding, length and number of billed segments of `text`. */
export function smsLength(text: string): SmsLength {
  const encoding = isGsm7(text) ? "gsm7" : "ucs2";
  const units = encoding === "gsm7" ? [...text].reduce((sum, c) => sum + septetsOf(c), 0) : text.length;
  const limit = LIMITS[encoding];
  const segments = units === 0 ? 1 : units <= limit.single ? 1 : Math.ceil(units / limit.perSegment);
  // Boundaries that cannot split an escape or a surrogate pair can add one segment: count exactly.
  return { encoding, units, segments: segments === 1 ? 1 : splitUnits(text, encoding).length };
}

/** The segments of `text` encoded for SMPP (without the concatenation header, added per part). */
export function encodeSegments(text: string): EncodedSegment[] {
  const encoding = isGsm7(text) ? "gsm7" : "ucs2";
  const parts = smsLength(text).segments === 1 ? [text] : splitUnits(text, encoding);
  return parts.map((part) => ({
    bytes: encoding === "gsm7" ? gsm7Bytes(part) : ucs2Bytes(part),
    dataCoding: DATA_CODING[encoding],
  }));
}

/** True when every character of `text` is in the GSM 7-bit alphabet or its extension. */
export function isGsm7(text: string): boolean {
  for (const c of text) if (!GSM_INDEX.has(c) && !(c in GSM_EXTENSION)) return false;
  return true;
}

function septetsOf(c: string): number {
  return c in GSM_EXTENSION ? 2 : 1;
}

function splitUnits(text: string, encoding: SmsEncoding): string[] {
  const perSegment = LIMITS[encoding].perSegment;
  const parts: string[] = [];
  let current = "";
  let used = 0;
  for (const c of text) {
    const cost = encoding === "gsm7" ? septetsOf(c) : c.length;
    if (used + cost > perSegment) {
      parts.push(current);
      current = "";
      used = 0;
    }
    current += c;
    used += cost;
  }
  if (current) parts.push(current);
  return parts;
}

/** Unpacked GSM 03.38: one septet per byte, as SMPP carries data_coding 0. */
function gsm7Bytes(text: string): Buffer {
  const bytes: number[] = [];
  for (const c of text) {
    const extension = GSM_EXTENSION[c];
    if (extension !== undefined) bytes.push(ESC, extension);
    else bytes.push(GSM_INDEX.get(c)!);
  }
  return Buffer.from(bytes);
}

function ucs2Bytes(text: string): Buffer {
  const bytes = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) bytes.writeUInt16BE(text.charCodeAt(i), i * 2);
  return bytes;
}

/**
 * Replaces the few characters that have an exact GSM look-alike (no-break spaces from French
 * amounts, typographic apostrophes and quotes, dashes), so that a text is not billed as UCS-2 for
 * them alone. Accented letters are left as written: `ê` stays `ê`, and costs UCS-2.
 */
export function withGsmLookAlikes(text: string): string {
  return text
    .replace(/[\u00a0\u202f\u2007\u2009]/g, " ")
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/[\u201c\u201d\u00ab\u00bb]/g, '"')
    .replace(/[\u2013\u2014]/g, "-")
    .replace(/\u2026/g, "...");
}
