// Readable text from an HTML body, for messages that have no plain text part. The conversion is
// mailparser's own (html-to-text behind its nesting and length guards), run on a one-part message.

import { simpleParser } from "mailparser";

/** HTML longer than this is converted only up to here (html-to-text is slow on megabytes of markup). */
export const MAX_HTML_TO_TEXT_CHARS = 2 * 1024 * 1024;

/** The readable text of `html`; a crude tag strip when the converter refuses or fails. */
export async function htmlToReadableText(html: string): Promise<string> {
  if (!html.trim()) return "";
  // Cut at a tag start: the HTML parser closes whatever the cut leaves open.
  const isCut = html.length > MAX_HTML_TO_TEXT_CHARS;
  const part = isCut ? html.slice(0, html.lastIndexOf("<", MAX_HTML_TO_TEXT_CHARS) || MAX_HTML_TO_TEXT_CHARS) : html;
  try {
    const wrapped = Buffer.from(`Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${part}`);
    const mail = await simpleParser(wrapped, {
      maxHtmlLengthToParse: MAX_HTML_TO_TEXT_CHARS,
      skipImageLinks: true,
      skipTextToHtml: true,
      skipTextLinks: true,
    });
    const text = mail.text?.trim();
    if (text) return isCut ? `${text}\n[…]` : text;
  } catch {
    // Fall through to the crude strip: some text beats none.
  }
  return stripTags(html.slice(0, MAX_CRUDE_STRIP_CHARS));
}

/** The crude strip's regular expressions can rescan; keep their input small. */
const MAX_CRUDE_STRIP_CHARS = 256 * 1024;

/** The entities French mail uses most, for the crude strip only (the converter knows them all). */
const NAMED_ENTITIES: Record<string, string> = {
  nbsp: "\u00a0", amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", eacute: "é", egrave: "è", ecirc: "ê",
  euml: "ë", agrave: "à", acirc: "â", ccedil: "ç", ocirc: "ô", ucirc: "û", ugrave: "ù", icirc: "î", iuml: "ï",
  oelig: "œ", Eacute: "É", Egrave: "È", Agrave: "À", Ccedil: "Ç", laquo: "«", raquo: "»", euro: "€",
  rsquo: "’", lsquo: "‘", ldquo: "“", rdquo: "”", hellip: "…", ndash: "–", mdash: "—",
};

function stripTags(html: string): string {
  return html
    .replace(/<(script|style|head)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<(br|\/p|\/div|\/tr|\/li|\/h[1-6])\b[^>]*>/gi, "\n")
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, code: string) => {
      if (code[0] !== "#") return NAMED_ENTITIES[code] ?? NAMED_ENTITIES[code.toLowerCase()] ?? entity;
      const point = code[1]?.toLowerCase() === "x" ? parseInt(code.slice(2), 16) : parseInt(code.slice(1), 10);
      return point > 0 && point <= 0x10ffff ? String.fromCodePoint(point) : " ";
    })
    .replace(/[ \t]+/g, " ")
    .replace(/\s*\n\s*/g, "\n")
    .trim();
}
