// Decodes a base64 body as the MIME parser's own decoder would, without its line-by-line cost:
// characters outside the base64 alphabet are skipped (line breaks, stray spaces or 8-bit bytes),
// and a body padded in the middle (each line padded on its own, as a few old clients write) is
// decoded padded segment by segment instead of stopping at its first "=".
//
// A body is decoded in slices of about 64 KB cut at line ends: a string of the whole body (several
// MB) would be held outside V8's young generation until a full collection. Slicing is exact only
// when each slice holds whole groups of four base64 characters and nothing else but line breaks;
// from the first slice that does not (junk among the characters, an odd line length, a "=" before
// the end), the rest of the body goes the one-string way, which handles everything. The decoded
// bytes come out in pieces of about 1 MB, for the storage to write as they come.

const SLICE_BYTES = 64 * 1024;
/**
 * The decoded bytes are handed out in pieces of about this size, each written to storage as it
 * comes: a well-formed attachment of 15 MB (or one over the limit, only measured) never sits whole
 * in memory.
 */
export const DECODED_PIECE_BYTES = 1024 * 1024;

/** The decoded bytes of `body`, the raw base64 text of one MIME part, piece by piece, each a Buffer of its own. */
export function* decodeBase64Pieces(body: Buffer): Generator<Buffer> {
  let out = Buffer.allocUnsafe(0);
  let length = 0;
  let start = 0;
  while (start < body.length) {
    let end = Math.min(body.length, start + SLICE_BYTES);
    if (end < body.length) {
      const lineEnd = body.indexOf(0x0a, end);
      end = lineEnd < 0 ? body.length : lineEnd + 1;
    }
    if (end === body.length) break;
    const text = body.toString("latin1", start, end);
    const room = Math.ceil((text.length * 3) / 4);
    if (length + room > out.length) {
      if (length > 0) yield out.subarray(0, length);
      out = Buffer.allocUnsafe(Math.max(DECODED_PIECE_BYTES, room));
      length = 0;
    }
    const written = decodeWholeQuartets(text, out, length);
    if (written < 0) break;
    length += written;
    start = end;
  }
  if (length > 0) yield out.subarray(0, length);
  // The last slice, or the first that does not slice exactly: the rest at once. The slices before
  // it held whole groups of four base64 characters and nothing else, so nothing of them is pending:
  // the rest decodes as it would within the whole body.
  if (start < body.length) yield decodeAtOnce(body.subarray(start));
}

/**
 * Decodes `text` (not the body's last slice) into `out` at `at` if it is made of base64 characters
 * and line breaks only, in whole groups of four; -1 (nothing to trust) otherwise.
 */
function decodeWholeQuartets(text: string, out: Buffer, at: number): number {
  if (text.includes("=") || text.includes("-") || text.includes("_")) return -1;
  const characters = text.length - count(text, "\n") - count(text, "\r");
  if (characters % 4 !== 0) return -1;
  const written = out.write(text, at, "base64");
  // Fewer bytes than the characters give means Node skipped some: junk was among them.
  return written === (characters / 4) * 3 ? written : -1;
}

function count(text: string, character: string): number {
  let n = 0;
  for (let i = text.indexOf(character); i >= 0; i = text.indexOf(character, i + 1)) n++;
  return n;
}

function decodeAtOnce(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil((body.length * 3) / 4));
  return out.subarray(0, decodeSegments(body.toString("latin1"), out, 0));
}

/** Decodes any base64 text into `out` at `at` as the parser would; returns the bytes written. */
function decodeSegments(text: string, out: Buffer, at: number): number {
  // Node's decoder skips what is outside the alphabet, except "-" and "_", which it reads as
  // base64url: those are removed first.
  if (text.includes("-") || text.includes("_")) text = text.replace(/[-_]+/g, "");
  const firstPad = text.indexOf("=");
  if (firstPad < 0 || !/[A-Za-z0-9+/]/.test(text.slice(firstPad))) return out.write(text, at, "base64");
  let length = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("=", start);
    if (end < 0) end = text.length;
    if (end > start) length += out.write(text.slice(start, end), at + length, "base64");
    start = end + 1;
  }
  return length;
}
