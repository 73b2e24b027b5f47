// Turns bytes of unknown or unreliable charset into text. Mail that declares no charset (or
// declares us-ascii/utf-8 and then sends 8-bit bytes) is, in practice, either UTF-8 or the
// sender's legacy code page; for French-speaking senders that is Windows-1252 (a superset of
// ISO-8859-1 for printable text).

const FALLBACK_CHARSET = "windows-1252";

/** UTF-8 when the bytes are valid UTF-8, else `hintCharset` when it is a known label, else Windows-1252. */
export function decodeUtf8OrLegacy(bytes: Uint8Array, hintCharset?: string | null): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder(knownCharset(hintCharset) ?? FALLBACK_CHARSET).decode(bytes);
  }
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
