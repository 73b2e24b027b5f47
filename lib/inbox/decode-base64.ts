// Decodes a base64 body as the MIME parser's own decoder would, in one call instead of a chunk at a
// time: characters outside the base64 alphabet are skipped (line breaks, stray spaces or 8-bit
// bytes), and a body padded in the middle (each line padded on its own, as a few old clients
// write) is decoded padded segment by segment instead of stopping at its first "=".

/** The decoded bytes of `body`, the raw base64 text of one MIME part. */
export function decodeBase64Body(body: Buffer): Buffer {
  let text = body.toString("latin1");
  // Node's decoder skips what is outside the alphabet, except "-" and "_", which it reads as
  // base64url: those are removed first (rare; a scan for two characters costs next to nothing).
  if (text.includes("-") || text.includes("_")) text = text.replace(/[-_]+/g, "");
  const firstPad = text.indexOf("=");
  if (firstPad < 0 || !/[A-Za-z0-9+/]/.test(text.slice(firstPad))) return Buffer.from(text, "base64");
  const out = Buffer.alloc(Math.ceil((text.length * 3) / 4));
  let length = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("=", start);
    if (end < 0) end = text.length;
    if (end > start) length += out.write(text.slice(start, end), length, "base64");
    start = end + 1;
  }
  return Buffer.from(out.subarray(0, length));
}
