// What the app shows of a message: its readable text (or a placeholder saying why there is none)
// and its HTML, both bounded, both safe for a Postgres text column.

import type { ParsedMessage } from "./parse-message.js";

/** About 1 MB of text is a book, not a letter; beyond it the text is cut with a note. */
export const MAX_CONTENT_CHARS = 1_000_000;
/** HTML cannot be cut without breaking it: beyond this it is dropped (the text remains). */
export const MAX_HTML_CHARS = 2_000_000;

export interface MessageContent {
  content: string;
  html: string | null;
  notes: string[];
}

/** The stored text and HTML of `parsed` (`isOversize`: only its headers were downloaded). */
export function messageContent(parsed: ParsedMessage, message: { isOversize: boolean; sizeBytes: number }): MessageContent {
  const notes: string[] = [];
  let content = pgText(parsed.text).trim();
  if (message.isOversize) {
    const megabytes = (message.sizeBytes / (1024 * 1024)).toFixed(1).replace(".", ",");
    content = `[Message trop volumineux (${megabytes} Mo) : seul l'en-tête a été importé. Consultez-le dans votre messagerie.]`;
    notes.push("body not downloaded: message over the size limit");
  } else if (!content) {
    const count = parsed.attachments.length;
    content = count ? `[Message sans texte — ${count} pièce(s) jointe(s)]` : "[Message sans texte lisible]";
  } else if (content.length > MAX_CONTENT_CHARS) {
    notes.push(`text cut at ${MAX_CONTENT_CHARS} of ${content.length} characters`);
    content = `${content.slice(0, MAX_CONTENT_CHARS)}\n\n[… texte tronqué : message trop long (${content.length} caractères)]`;
  }
  let html = parsed.html === null ? null : pgText(parsed.html);
  if (html !== null && html.length > MAX_HTML_CHARS) {
    notes.push(`HTML of ${html.length} characters not kept`);
    html = null;
  }
  return { content, html, notes };
}

/** Postgres text and jsonb refuse NUL characters; mail from broken senders contains them. */
export function pgText(value: string): string {
  return value.includes("\u0000") ? value.replace(/\u0000/g, "") : value;
}
