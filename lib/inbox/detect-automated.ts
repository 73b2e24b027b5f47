// Tells machine-sent mail apart from mail a person wrote: auto-replies (RFC 3834 and the vendor
// headers that predate it) and bounces (RFC 3464 delivery status notifications). Such mail is
// stored like any other, but must never look like a client's answer to automation.

import { headerValue, headerValues, type MessageHead } from "./raw-headers.js";

/** `Precedence` values that mean "sent by a program" (RFC 2076; FreeScout and Zammad use the same). */
const AUTOMATED_PRECEDENCE = new Set(["auto_reply", "bulk", "junk", "list"]);

/** Local parts of the addresses mail systems send bounces from. */
const BOUNCE_SENDERS = new Set(["mailer-daemon", "postmaster", "mail-delivery-subsystem", "mailerdaemon"]);

/** Delivery status parts are small and come early; scanning further would only cost time. */
const MAX_BOUNCE_SCAN_BYTES = 2 * 1024 * 1024;
/**
 * The body is scanned in pieces of about this size, each starting at a line start: a string of
 * over 1 MB made from bytes is an external string, whose memory lingers like a Buffer's.
 */
const SCAN_PIECE_BYTES = 64 * 1024;
/** How far a match may run past the end of its piece (a folded header line). */
const SCAN_OVERLAP_BYTES = 1024;
const DELIVERY_STATUS_PART = /^content-type:\s*message\/delivery-status/im;

/** The `Auto-Submitted` value (RFC 3834 §5), lowercased, without parameters; null when absent. */
export function autoSubmittedOf(head: MessageHead): string | null {
  const value = headerValue(head, "auto-submitted");
  return value === null ? null : (value.split(";")[0] ?? "").trim().toLowerCase();
}

/** Whether the message says it was sent automatically (out-of-office, auto-acknowledgement, bulk). */
export function isAutoReply(head: MessageHead): boolean {
  const autoSubmitted = autoSubmittedOf(head);
  if (autoSubmitted !== null && autoSubmitted !== "no") return true;
  for (const name of ["x-autoreply", "x-autorespond", "x-autoresponder"]) {
    const value = headerValue(head, name);
    if (value !== null && value.trim().toLowerCase() !== "no") return true;
  }
  const precedence = [...headerValues(head, "precedence"), ...headerValues(head, "x-precedence")];
  if (precedence.some((p) => AUTOMATED_PRECEDENCE.has(p.trim().toLowerCase()))) return true;
  // Exchange marks its own automatic mail (out-of-office, recalls) so that others do not answer it.
  const suppress = (headerValue(head, "x-auto-response-suppress") ?? "").toLowerCase();
  return /\b(all|oof|autoreply)\b/.test(suppress);
}

/**
 * Whether the message reports a delivery failure (or delay) of mail the company sent. `body` is
 * what follows the header block: the message's, or the parser's input with the attachments'
 * base64 bodies lifted out (no line of those can name a delivery-status part).
 */
export function isBounce(head: MessageHead, body: Buffer, fromAddress: string | null): boolean {
  const contentType = (headerValue(head, "content-type") ?? "").toLowerCase();
  if (/^\s*multipart\/report\b/.test(contentType) && /report-type\s*=\s*"?delivery-status/.test(contentType)) {
    return true;
  }
  if (matchesInPieces(body.subarray(0, MAX_BOUNCE_SCAN_BYTES), DELIVERY_STATUS_PART)) return true;
  const localPart = (fromAddress ?? "").split("@")[0]?.toLowerCase() ?? "";
  if (BOUNCE_SENDERS.has(localPart)) return true;
  // RFC 5321 §4.5.5: notifications go out with a null reverse-path. RFC 3834 auto-replies should
  // too, so a null Return-Path only means a bounce when nothing says it is an auto-reply.
  // Read receipts (RFC 8098, report-type=disposition-notification) use it as well.
  const returnPath = headerValue(head, "return-path");
  const isReadReceipt = /report-type\s*=\s*"?disposition-notification/.test(contentType);
  return returnPath !== null && /^<\s*>$/.test(returnPath.trim()) && !isAutoReply(head) && !isReadReceipt;
}

/**
 * Whether `pattern` (multiline, anchored at a line start) matches in `bytes` read as latin1, one
 * piece at a time. Each piece starts at a line start and is read with SCAN_OVERLAP_BYTES more, so
 * a match that starts in a piece is found even when it ends a little past it.
 */
function matchesInPieces(bytes: Buffer, pattern: RegExp): boolean {
  for (let start = 0; start < bytes.length; ) {
    let end = Math.min(bytes.length, start + SCAN_PIECE_BYTES);
    if (end < bytes.length) {
      const lastNewline = bytes.lastIndexOf(0x0a, end - 1);
      if (lastNewline >= start) end = lastNewline + 1;
      else {
        // One line longer than a piece: only its start can match; the next piece starts after it.
        const next = bytes.indexOf(0x0a, end);
        end = next < 0 ? bytes.length : next + 1;
      }
    }
    const readTo = Math.min(bytes.length, Math.min(end, start + SCAN_PIECE_BYTES) + SCAN_OVERLAP_BYTES);
    if (pattern.test(bytes.toString("latin1", start, readTo))) return true;
    start = end;
  }
  return false;
}
