// Turns bytes of unknown or unreliable charset into text. Mail that declares no charset (or
// declares us-ascii/utf-8 and then sends 8-bit bytes) is, in practice, either UTF-8 or the
// sender's legacy code page; for French-speaking senders that is Windows-1252 (a superset of
// ISO-8859-1 for printable text).

const FALLBACK_CHARSET = "windows-1252";

/**
 * What Windows-1252 puts at 0x80–0x9F (where ISO-8859-1 has control characters); the five holes
 * stay the control characters, as WHATWG decodes them. Written out because Node 20's
 * `TextDecoder("windows-1252")` decodes as ISO-8859-1 and turns "€" into U+0080.
 */
const WINDOWS_1252_HIGH_CONTROLS =
  "€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ";

/** UTF-8 when the bytes are valid UTF-8, else `hintCharset` when it is a known label, else Windows-1252. */
export function decodeUtf8OrLegacy(bytes: Uint8Array, hintCharset?: string | null): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const charset = knownCharset(hintCharset) ?? FALLBACK_CHARSET;
    return charset === FALLBACK_CHARSET ? decodeWindows1252(bytes) : new TextDecoder(charset).decode(bytes);
  }
}

/** Windows-1252 (which WHATWG also uses for the labels iso-8859-1, latin1 and us-ascii). */
export function decodeWindows1252(bytes: Uint8Array): string {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  return latin1.replace(/[\u0080-\u009f]/g, (c) => WINDOWS_1252_HIGH_CONTROLS[c.charCodeAt(0) - 0x80] ?? c);
}

/** Whether the bytes are plain 7-bit ASCII (nothing to decode). */
export function isAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte > 0x7f) return false;
  return true;
}

function knownCharset(label: string | null | undefined): string | null {
  if (!label) return null;
  try {
    const decoder = new TextDecoder(label);
    // A hint of UTF-8 is what just failed: fall back to the legacy code page instead.
    return decoder.encoding === "utf-8" ? null : decoder.encoding;
  } catch {
    return null;
  }
}
