// Bounds a message's MIME tree before the MIME parser sees it. mailparser's splitter gives up on
// the whole message at its limits (too many parts, a header block over 1 MB), losing the text and
// the attachments it had not handed over yet; here the excess is cut instead, so the parser always
// gets a tree within its limits: at most MAX_MIME_PARTS parts (the last few kept for text parts),
// at most MAX_MIME_DEPTH levels, header lines and blocks of bounded size. One pass over the lines,
// output never larger than the input; the boundaries are found the way mailsplit finds them (any
// open multipart's delimiter ends the parts below it, an inline message/rfc822 holds a message).
//
// Asked to (`partTag`), it also lifts the base64 bodies of attachments out of the parser's input:
// the parser would split them line by line and decode them a chunk at a time, which costs more
// than everything else the import does with a message. Each lifted body is replaced by nothing
// and its part gets one header field naming it (`X-Lokario-Part: <tag>:<n>`); the caller decodes
// the body from the original bytes, piece by piece, when the parser reaches that attachment.

export const MAX_MIME_PARTS = 500;
/** Deeper parts are not correspondence; each level costs the splitter a check on every `--` line. */
export const MAX_MIME_DEPTH = 40;
/** The last parts of the budget go only to inline text parts, so a text after 490 files is read. */
const PARTS_KEPT_FOR_TEXT = 10;
/** A header line beyond this is cut (RFC 5322 allows 998 bytes; real long ones are a few KB). */
export const MAX_HEADER_LINE_BYTES = 64 * 1024;
/** Past this, a part's further header fields are dropped, except its Content-* ones… */
const HEADER_BLOCK_BYTES = 256 * 1024;
/** …until this, half of the splitter's own 1 MB limit (it counts a line as at least 64 bytes). */
const HEADER_BLOCK_HARD_BYTES = 512 * 1024;
const HEADER_LINE_MIN_COST = 64;
/** The header field naming a lifted body; the tag is random per parse, so a message cannot forge it. */
export const LIFTED_PART_FIELD = "x-lokario-part";
/** Smaller bodies stay in place: the field naming them would be longer than what it saves. */
const MIN_LIFTED_BODY_BYTES = 1024;

export interface PruneOptions {
  /** Lift attachments' base64 bodies out, naming them with this tag (letters and digits). */
  partTag?: string;
}

/** A body lifted out of the parser's input: its bytes are `source.subarray(start, end)` of the input. */
export interface LiftedBody {
  start: number;
  end: number;
}

export interface PrunedMime {
  source: Buffer;
  /** Parts cut (beyond MAX_MIME_PARTS or MAX_MIME_DEPTH), not counting what they contained. */
  partsDropped: number;
  /** Of those, the ones that were neither multipart nor text: attachments not kept. */
  attachmentsDropped: number;
  headerLinesCut: number;
  headerFieldsDropped: number;
  /** Base64 bodies lifted out (with `partTag`), by the number their part's field gives. */
  liftedBodies: LiftedBody[];
}

interface OpenMultipart {
  boundary: Buffer;
  depth: number;
}

interface PartHead {
  start: number;
  depth: number;
  /** Whether it is the top of the message or of an embedded message (kept with its container). */
  isNested: boolean;
  cost: number;
  isDroppingField: boolean;
  contentFields: string[];
  contentChars: number;
  isInContentField: boolean;
  /** Byte ranges of the header block to leave out, and line cuts, in order. */
  edits: Array<{ from: number; to: number }>;
  linesCut: number;
  fieldsDropped: number;
}

/** `source` with its MIME tree bounded (the same Buffer when nothing had to be cut). */
export function pruneMime(source: Buffer, options: PruneOptions = {}): PrunedMime {
  const pieces: Buffer[] = [];
  let copiedUpTo = 0;
  const leaveOut = (from: number, to: number) => {
    if (to <= from) return;
    if (from > copiedUpTo) pieces.push(source.subarray(copiedUpTo, from));
    copiedUpTo = Math.max(copiedUpTo, to);
  };
  const result = { partsDropped: 0, attachmentsDropped: 0, headerLinesCut: 0, headerFieldsDropped: 0 };
  const liftedBodies: LiftedBody[] = [];
  /** The body being read of a part whose body may be lifted: where its header block's blank line starts, where the body starts. */
  let liftable: { blankLine: number; start: number } | null = null;
  const endBody = (end: number) => {
    if (!liftable) return;
    const { blankLine, start } = liftable;
    liftable = null;
    if (end - start < MIN_LIFTED_BODY_BYTES || copiedUpTo > blankLine) return;
    const lineEnd = source[start - 2] === 0x0d ? "\r\n" : "\n";
    pieces.push(source.subarray(copiedUpTo, blankLine));
    pieces.push(Buffer.from(`X-Lokario-Part: ${options.partTag}:${liftedBodies.length}${lineEnd}`, "latin1"));
    pieces.push(source.subarray(blankLine, start));
    copiedUpTo = end;
    liftedBodies.push({ start, end });
  };

  const stack: OpenMultipart[] = [];
  let partsKept = 1;
  let head: PartHead | null = newHead(0, 0, true);
  /** Start of the part being left out, or -1. */
  let skippingFrom = -1;

  /** Ends a header block at `end` (just after its blank line, or at a delimiter when `blankLine` is -1). */
  const endHead = (current: PartHead, end: number, blankLine = -1) => {
    const type = fieldValue(current.contentFields, "content-type");
    const mimeType = /^\s*([^;\s]*)/.exec(type)?.[1]?.toLowerCase() ?? "";
    const boundary = boundaryOf(type);
    const disposition = /^\s*([^;\s]*)/.exec(fieldValue(current.contentFields, "content-disposition"))?.[1]?.toLowerCase() ?? "";
    const encoding = fieldValue(current.contentFields, "content-transfer-encoding").trim().toLowerCase();
    const holdsMessage = mimeType === "message/rfc822" && disposition === "inline" && ["", "7bit", "8bit", "binary"].includes(encoding);
    const isText = !boundary && (mimeType === "" || mimeType === "text/plain" || mimeType === "text/html") && disposition !== "attachment";
    const needed = holdsMessage ? 2 : 1;
    const budget = isText ? MAX_MIME_PARTS : MAX_MIME_PARTS - PARTS_KEPT_FOR_TEXT;
    const isKept = current.isNested || (current.depth <= MAX_MIME_DEPTH && partsKept + needed <= budget);
    if (!isKept) {
      result.partsDropped++;
      if (!boundary && !isText) result.attachmentsDropped++;
      skippingFrom = current.start;
      return null;
    }
    if (!current.isNested) partsKept++;
    for (const edit of current.edits) leaveOut(edit.from, edit.to);
    result.headerLinesCut += current.linesCut;
    result.headerFieldsDropped += current.fieldsDropped;
    if (boundary) stack.push({ boundary, depth: current.depth });
    else if (options.partTag && blankLine >= 0 && isLiftable(current.contentFields, mimeType, encoding)) liftable = { blankLine, start: end };
    if (holdsMessage) {
      partsKept++;
      return newHead(end, current.depth + 1, true);
    }
    return null;
  };

  let offset = 0;
  while (offset < source.length) {
    if (!head && !startsWithDashes(source, offset)) {
      // In a body only a line starting with "--" can matter: go straight to the next one.
      const next = source.indexOf(NEWLINE_DASHES, offset);
      offset = next < 0 ? source.length : next + 1;
      continue;
    }
    const lf = source.indexOf(0x0a, offset);
    const end = lf < 0 ? source.length : lf + 1;
    const delimiter = startsWithDashes(source, offset) ? matchDelimiter(source, offset, end, stack) : null;
    if (delimiter) {
      // A delimiter ends whatever was open below its multipart, even a header block.
      if (head) endHead(head, offset);
      endBody(offset);
      if (skippingFrom >= 0) {
        leaveOut(skippingFrom, offset);
        skippingFrom = -1;
      }
      const owner = stack[delimiter.index] as OpenMultipart;
      stack.length = delimiter.index + (delimiter.isClosing ? 0 : 1);
      head = delimiter.isClosing ? null : newHead(offset, owner.depth + 1, false);
    } else if (head) {
      if (isBlankLine(source, offset, end)) head = endHead(head, end, offset);
      else readHeaderLine(head, source, offset, end);
    }
    offset = end;
  }
  if (head) endHead(head, source.length);
  endBody(source.length);
  if (skippingFrom >= 0) leaveOut(skippingFrom, source.length);
  if (!pieces.length && copiedUpTo === 0) return { source, ...result, liftedBodies };
  pieces.push(source.subarray(copiedUpTo));
  return { source: Buffer.concat(pieces), ...result, liftedBodies };
}

const NEWLINE_DASHES = Buffer.from("\n--", "latin1");

function startsWithDashes(source: Buffer, offset: number): boolean {
  return source[offset] === 0x2d && source[offset + 1] === 0x2d;
}

function newHead(start: number, depth: number, isNested: boolean): PartHead {
  return { start, depth, isNested, cost: 0, isDroppingField: false, contentFields: [], contentChars: 0, isInContentField: false, edits: [], linesCut: 0, fieldsDropped: 0 };
}

/** Applies the line and block bounds to one header line, remembering the Content-* fields. */
function readHeaderLine(head: PartHead, source: Buffer, start: number, end: number): void {
  const isContinuation = source[start] === 0x20 || source[start] === 0x09;
  const length = Math.min(end - start, MAX_HEADER_LINE_BYTES);
  const name = isContinuation ? null : source.subarray(start, Math.min(end, start + 64)).toString("latin1").split(":")[0]?.trim().toLowerCase() ?? "";
  const isContentField = name !== null && name.startsWith("content-");
  if (!isContinuation) {
    const limit = isContentField ? HEADER_BLOCK_HARD_BYTES : HEADER_BLOCK_BYTES;
    head.isDroppingField = head.cost + Math.max(length, HEADER_LINE_MIN_COST) > limit;
    if (head.isDroppingField) head.fieldsDropped++;
  } else if (!head.isDroppingField && head.cost + Math.max(length, HEADER_LINE_MIN_COST) > HEADER_BLOCK_HARD_BYTES) {
    head.isDroppingField = true;
    head.fieldsDropped++;
  }
  if (head.isDroppingField) {
    head.edits.push({ from: start, to: end });
    return;
  }
  head.cost += Math.max(length, HEADER_LINE_MIN_COST);
  if (end - start > MAX_HEADER_LINE_BYTES) {
    // Keep the line ending: the cut line must stay one header line.
    const ending = source[end - 1] === 0x0a ? (source[end - 2] === 0x0d ? 2 : 1) : 0;
    head.edits.push({ from: start + MAX_HEADER_LINE_BYTES - ending, to: end - ending });
    head.linesCut++;
  }
  // Only the Content-* fields decide the structure; a few KB of each is plenty for a boundary.
  if (head.contentChars > 16_384 || !(isContentField || (isContinuation && head.isInContentField))) {
    head.isInContentField = isContentField;
    return;
  }
  const text = source.subarray(start, start + Math.min(length, 4096)).toString("latin1");
  head.contentChars += text.length;
  if (isContentField) head.contentFields.push(text);
  else head.contentFields[head.contentFields.length - 1] += text;
  if (!isContinuation) head.isInContentField = isContentField;
}

/**
 * Whether a part's body can be lifted: base64, and an attachment to the parser whatever it makes of
 * the part (not text, multipart or message), its type and encoding each given once so that the
 * parser cannot read them differently.
 */
function isLiftable(fields: string[], mimeType: string, encoding: string): boolean {
  if (encoding !== "base64" || !mimeType || /^(text|multipart|message)\//.test(mimeType) || !mimeType.includes("/")) return false;
  const count = (name: string) => fields.filter((f) => f.slice(0, f.indexOf(":")).trim().toLowerCase() === name).length;
  return count("content-type") === 1 && count("content-transfer-encoding") === 1;
}

/** The unfolded value of the first `name` field among `fields` ("" when absent). */
function fieldValue(fields: string[], name: string): string {
  const field = fields.find((f) => f.slice(0, f.indexOf(":")).trim().toLowerCase() === name);
  return field ? field.slice(field.indexOf(":") + 1).replace(/\r?\n[ \t]*/g, " ") : "";
}

/** The boundary parameter, as mailsplit takes it (any content type; ASCII, trailing spaces dropped). */
function boundaryOf(contentType: string): Buffer | null {
  const match = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(contentType);
  const value = (match?.[1] ?? match?.[2] ?? "").trimEnd();
  return value && !/[^\x20-\x7e]/.test(value) ? Buffer.from(value, "latin1") : null;
}

function isBlankLine(source: Buffer, start: number, end: number): boolean {
  const length = end - start;
  return (length === 1 && source[start] === 0x0a) || (length === 2 && source[start] === 0x0d && source[start + 1] === 0x0a);
}

/** Which open multipart (innermost first) a `--boundary` or `--boundary--` line belongs to. */
function matchDelimiter(source: Buffer, start: number, end: number, stack: OpenMultipart[]): { index: number; isClosing: boolean } | null {
  let stop = end;
  while (stop > start && (source[stop - 1] === 0x0a || source[stop - 1] === 0x0d || source[stop - 1] === 0x20 || source[stop - 1] === 0x09)) stop--;
  for (let index = stack.length - 1; index >= 0; index--) {
    const boundary = (stack[index] as OpenMultipart).boundary;
    const length = stop - start - 2;
    if (length !== boundary.length && length !== boundary.length + 2) continue;
    if (source.compare(boundary, 0, boundary.length, start + 2, start + 2 + boundary.length) !== 0) continue;
    if (length === boundary.length) return { index, isClosing: false };
    if (source[stop - 1] === 0x2d && source[stop - 2] === 0x2d) return { index, isClosing: true };
  }
  return null;
}
