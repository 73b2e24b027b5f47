// Turns bytes of unknown or unreliable charset into text. Mail that declares no charset (or
// declares us-ascii/utf-8 and then sends 8-bit bytes) is, in practice, either UTF-8 or the
// sender's legacy code page; for French-speaking senders that is Windows-1252 (a superset of
// ISO-8859-1 for printable text).
import iconv from "iconv-lite";

const FALLBACK_CHARSET = "windows-1252";

/** UTF-8 when the bytes are valid UTF-8, else `hintCharset` when it is a known label, else Windows-1252. */
export function decodeUtf8OrLegacy(bytes: Uint8Array, hintCharset?: string | null): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const charset = knownCharset(hintCharset) ?? FALLBACK_CHARSET;
    return charset === FALLBACK_CHARSET ? decodeWindows1252(bytes) : new TextDecoder(charset).decode(bytes);
  }
}

/**
 * Windows-1252 (which WHATWG also uses for the labels iso-8859-1, latin1 and us-ascii), by
 * iconv-lite. Not Node's `TextDecoder("windows-1252")`: Node 20.18.3 to early 24.x releases that
 * `engines` admits decode it as ISO-8859-1, "€" becoming U+0080 (nodejs/node#60888). The five bytes the code page leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)
 * stay the C1 control of the same value, as WHATWG decodes them, where iconv-lite gives U+FFFD:
 * every Windows-1252 character is one UTF-16 unit, so the replacement at index i is byte i.
 */
export function decodeWindows1252(bytes: Uint8Array): string {
  const decoded = iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), FALLBACK_CHARSET);
  return decoded.replace(/\uFFFD/g, (_replacement, index: number) => String.fromCharCode(bytes[index] ?? 0xfffd));
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
