// Sends one automatic follow-up step exactly once.
//
// 1. Claim (claim-followups.ts, by the caller, for a batch): insert the (follow-up, step) attempt,
//    state `sending`, with a Message-ID from `newMessageId` and a lease, before any SMTP traffic.
//    A caller that loses the insert sends nothing.
// 2. SMTP, outside any transaction. Once the server has accepted the envelope (354 to DATA), and
//    before the message itself is written, the attempt's `handed_over_at` is set (hand-over).
// 3. Accepted: record everything in one transaction (record-send.ts).
//    Temporary failure (4xx, connection refused, timeout, login refused): delete the attempt, so
//    nothing is recorded as sent and a later run tries the step again.
//    Permanent failure (5xx on the recipient or the message): the attempt becomes `failed` with
//    the server's reason and the company is notified; the step is never retried automatically.
//
// If the process dies before step 3 is written, the attempt stays `sending`. Once its lease has
// passed, the next run looks at the hand-over:
// - never handed over (killed while connecting, logging in or giving the envelope): the server
//   never had the message, so the attempt is deleted and the step sent again, automatically;
// - handed over: the server may have delivered it. The attempt becomes `uncertain`, is counted in
//   the run summary and the company is notified; it is never resent automatically. An operator
//   resolves it by looking the attempt's Message-ID up in the SMTP server's log or the sending
//   mailbox's Sent folder (resolve-uncertain.ts): sent → recorded as a normal send; not sent →
//   the attempt is deleted and the next run sends the step with a new Message-ID.
// Narrow case kept as is: a connection lost after the final "." but before the server's reply looks
// like a temporary failure, and the step is retried (RFC 5321 §4.1.1.4 accepts such duplicates).

import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { followupSendAttempts } from "../db/schema.js";
import { type ErrorKind, type JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import type { ComposedEmail, MailSender } from "../mail/mail-sender.js";
import { composeEmail, isServerFailure, smtpErrorOf } from "../mail/smtp.js";
import { recordHandOver } from "./claim-followups.js";
import { notifyFailedSend } from "./notify-company.js";
import { recordSentFollowup } from "./record-send.js";
import type { RenderedEmail } from "./render.js";
import type { Sender } from "./sender.js";

/**
 * How long a `sending` attempt belongs to the run that claimed it. Longer than the slowest live
 * send (connect, greeting and data timeouts of SMTP_TIMEOUT_MS each, 15 s by default) plus the
 * longest run budget (RUN_BUDGET_MS ≤ 15 min), so a live send is never mistaken for a dead one.
 */
export const ATTEMPT_LEASE_MS = 20 * 60_000;

export interface SendRequest {
  /** The attempt this caller claimed for the step, and the Message-ID recorded with it. */
  attemptId: number;
  messageId: string;
  followupId: number;
  companyId: number;
  clientId: number;
  step: number;
  recipient: string;
  email: RenderedEmail;
  sender: Sender;
  now: Date;
  isLastAllowed: boolean;
  /** The email as it goes on the wire, built by composeFollowupEmail from the fields above. */
  message: ComposedEmail;
  /** The run's session with the sender's SMTP account (its connections are kept across sends). */
  smtp: MailSender;
  /** Called once the server accepted the message, before it is recorded (the account is free again). */
  onAccepted?: () => void;
  /**
   * Called as soon as the failure is known when it says the server is not to be used again this run
   * (a 4xx, no reply, a refused login: isServerFailure), before the attempt is cleaned up, so that
   * no send through the account starts after it while this one is still being written down.
   */
  onServerFailure?: () => void;
}

export type SendOutcome =
  | { outcome: "sent"; historyId: number; messageId: string }
  | { outcome: "not_claimed"; reason: "step_taken" }
  | { outcome: "failed"; kind: ErrorKind; reason: string; isServerDown: boolean }
  | { outcome: "unrecorded"; reason: string };

/** Sends and records one claimed step; never throws for an SMTP failure. */
export async function sendFollowup(db: Db, request: SendRequest, log: Logger): Promise<SendOutcome> {
  const { attemptId, messageId } = request;
  let smtpResponse: string;
  let isReleased = false;
  let handOverFailure: unknown;
  try {
    const onHandOver = async () => {
      const isRecorded = await recordHandOver(db, attemptId, request.now).catch((err: unknown) => {
        handOverFailure = err;
        throw err;
      });
      isReleased = !isRecorded;
      if (isReleased) throw new Error("attempt released after its lease: not ours to send any more");
    };
    const accepted = await request.smtp.send(request.message, { onHandOver });
    smtpResponse = accepted.response;
    request.onAccepted?.();
  } catch (err) {
    // Another run owns the step now (this one outlived its lease): nothing was written, nothing to undo.
    if (isReleased) return { outcome: "not_claimed", reason: "step_taken" };
    // The database failed, not SMTP; the message was not written. The attempt stays `sending`
    // without a hand-over, so once its lease has passed a run sends the step again.
    if (handOverFailure !== undefined) throw handOverFailure;
    const failure = smtpErrorOf(err);
    if (isServerFailure(failure)) request.onServerFailure?.();
    return failAttempt(db, request, attemptId, failure, log);
  }

  try {
    const historyId = await recordSentFollowup(db, {
      attemptId: attemptId,
      followupId: request.followupId,
      companyId: request.companyId,
      clientId: request.clientId,
      step: request.step,
      messageId,
      recipient: request.recipient,
      from: request.sender.from,
      integrationId: request.sender.integrationId,
      email: request.email,
      smtpResponse,
      sentAt: request.now,
      isLastAllowed: request.isLastAllowed,
    });
    return { outcome: "sent", historyId, messageId };
  } catch (err) {
    // The email left but could not be recorded: the attempt stays `sending` and turns `uncertain`.
    log.error("followup sent but not recorded", { followupId: request.followupId, step: request.step, error: shortReason(err) });
    return { outcome: "unrecorded", reason: shortReason(err) };
  }
}

async function failAttempt(db: Db, request: SendRequest, attemptId: number, err: JobError, log: Logger): Promise<SendOutcome> {
  const kind = err.kind;
  const reason = shortReason(err);
  const fields = { followupId: request.followupId, step: request.step, kind, error: reason };
  if (kind === "permanent") {
    await db.transaction(async (tx) => {
      await tx
        .update(followupSendAttempts)
        .set({ state: "failed", error: reason, finishedAt: request.now, updatedAt: request.now })
        .where(and(eq(followupSendAttempts.id, attemptId), eq(followupSendAttempts.state, "sending")));
      await notifyFailedSend(tx, { ...request, reason });
    });
    log.warn("followup refused by SMTP", fields);
  } else {
    await db
      .delete(followupSendAttempts)
      .where(and(eq(followupSendAttempts.id, attemptId), eq(followupSendAttempts.state, "sending")));
    log.warn("followup not sent, will retry", fields);
  }
  return { outcome: "failed", kind, reason, isServerDown: isServerFailure(err) };
}

/**
 * Builds a step's email for the wire. Done before the send waits for its SMTP account's turn: the
 * building needs no connection, so it is not made while holding one.
 */
export function composeFollowupEmail(step: Pick<SendRequest, "sender" | "recipient" | "email" | "messageId">): Promise<ComposedEmail> {
  return composeEmail({
    from: step.sender.from,
    replyTo: step.sender.replyTo,
    to: step.recipient,
    subject: step.email.subject,
    text: step.email.text,
    html: step.email.html,
    messageId: step.messageId,
    // RFC 3834: an automatic message; well-behaved out-of-office robots do not answer it.
    headers: { "Auto-Submitted": "auto-generated" },
  });
}

/** `<lokario.f{followup}.s{step}.{random}@{sender's domain}>`: unique, and traceable by eye. */
export function newMessageId(followupId: number, step: number, fromAddress: string): string {
  const domain = (fromAddress.split("@")[1] ?? "lokario.local").toLowerCase().replace(/[^a-z0-9.-]/g, "") || "lokario.local";
  return `<lokario.f${followupId}.s${step}.${randomBytes(8).toString("hex")}@${domain}>`;
}
