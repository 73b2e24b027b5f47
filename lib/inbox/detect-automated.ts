// Tells machine-sent mail apart from mail a person wrote: auto-replies (RFC 3834 and the vendor
// headers that predate it) and bounces (RFC 3464 delivery status notifications). Such mail is
// stored like any other, but must never look like a client's answer to automation.

import { bodyOf, headerValue, headerValues, type MessageHead } from "./raw-headers.js";

/** `Precedence` values that mean "sent by a program" (RFC 2076; FreeScout and Zammad use the same). */
const AUTOMATED_PRECEDENCE = new Set(["auto_reply", "bulk", "junk", "list"]);

/** Local parts of the addresses mail systems send bounces from. */
const BOUNCE_SENDERS = new Set(["mailer-daemon", "postmaster", "mail-delivery-subsystem", "mailerdaemon"]);

/** Delivery status parts are small and come early; scanning further would only cost time. */
const MAX_BOUNCE_SCAN_BYTES = 2 * 1024 * 1024;

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

/** Whether the message reports a delivery failure (or delay) of mail the company sent. */
export function isBounce(head: MessageHead, source: Buffer, fromAddress: string | null): boolean {
  const contentType = (headerValue(head, "content-type") ?? "").toLowerCase();
  if (/^\s*multipart\/report\b/.test(contentType) && /report-type\s*=\s*"?delivery-status/.test(contentType)) {
    return true;
  }
  const body = bodyOf(source, head).subarray(0, MAX_BOUNCE_SCAN_BYTES).toString("latin1");
  if (/^content-type:\s*message\/delivery-status/im.test(body)) return true;
  const localPart = (fromAddress ?? "").split("@")[0]?.toLowerCase() ?? "";
  if (BOUNCE_SENDERS.has(localPart)) return true;
  // RFC 5321 §4.5.5: notifications go out with a null reverse-path. RFC 3834 auto-replies should
  // too, so a null Return-Path only means a bounce when nothing says it is an auto-reply.
  // Read receipts (RFC 8098, report-type=disposition-notification) use it as well.
  const returnPath = headerValue(head, "return-path");
  const isReadReceipt = /report-type\s*=\s*"?disposition-notification/.test(contentType);
  return returnPath !== null && /^<\s*>$/.test(returnPath.trim()) && !isAutoReply(head) && !isReadReceipt;
}
