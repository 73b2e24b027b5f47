// `users.messages.send` (100 quota units): a MIME message as built for SMTP, base64url in `raw`,
// in an existing Gmail thread when `threadId` is given (Gmail also wants the References or
// In-Reply-To header and the same Subject for that). The outcome follows the exactly-once rules of
// the SMTP sender: `accepted` once Google answered with the message's id; `refused` when Google
// said no, or the request never left, so nothing was sent and a later try is safe; `uncertain` when
// the request may have reached Google and no answer says what became of it (a dropped connection,
// a time-out, a server error): never resent automatically. Google's own note: a 200 does not prove
// delivery either (a user over the sending limit gets 429s only minutes later).

import type { gmail_v1 } from "@googleapis/gmail";
import { type ErrorKind, JobError, shortReason } from "../errors.js";
import type { GmailClient } from "./gmail-client.js";
import { GmailAnswerError, GmailApiError, gmailJson, GmailUnreachableError } from "./gmail-request.js";

export type GmailSendResult =
  | { outcome: "accepted"; id: string; threadId: string }
  | { outcome: "refused"; kind: ErrorKind; reason: string }
  | { outcome: "uncertain"; reason: string };

export interface GmailOutgoingMessage {
  /** The whole RFC 822 message (headers and body), as it should arrive. */
  raw: Buffer;
  /** The Gmail thread this message answers, when it is known. */
  threadId?: string;
}

/**
 * Sends `message` from the mailbox. `onHandOver` runs before anything is asked of Google (from
 * then on Google may have the message): record the attempt there. Never throws for Google's
 * or the network's failures; an error of `onHandOver` itself propagates and nothing is sent.
 */
export async function sendMessage(client: GmailClient, message: GmailOutgoingMessage, hooks: { onHandOver?: () => Promise<void> } = {}): Promise<GmailSendResult> {
  const body: gmail_v1.Schema$Message = { raw: message.raw.toString("base64url"), ...(message.threadId ? { threadId: message.threadId } : {}) };
  await hooks.onHandOver?.();
  try {
    const sent = await gmailJson<gmail_v1.Schema$Message>(client, { method: "users.messages.send", httpMethod: "POST", path: "/messages/send", body, hasEffect: true });
    if (!sent.id) return { outcome: "uncertain", reason: "Gmail API users.messages.send: the answer has no message id" };
    return { outcome: "accepted", id: sent.id, threadId: sent.threadId ?? sent.id };
  } catch (err) {
    if (err instanceof GmailUnreachableError) {
      return err.mayHaveArrived ? { outcome: "uncertain", reason: err.message } : { outcome: "refused", kind: "transient", reason: err.message };
    }
    // A 5xx may come after Google took the message: only a 4xx is a refusal.
    if (err instanceof GmailApiError) {
      return err.status >= 500 ? { outcome: "uncertain", reason: err.message } : { outcome: "refused", kind: err.kind, reason: err.message };
    }
    // Google's answer came but could not be read: it may well have sent the message.
    if (err instanceof GmailAnswerError) return { outcome: "uncertain", reason: err.message };
    // The quota wait would pass the run's budget, or no token could be had: nothing left.
    if (err instanceof JobError) return { outcome: "refused", kind: err.kind, reason: err.message };
    return { outcome: "uncertain", reason: shortReason(err) };
  }
}
