// Sends one automatic follow-up step by email over SMTP, exactly once (the channel: smtp.ts).
//
// 1. Claim (claim-followups.ts, by the caller for a round: email-steps.ts): insert the
//    (follow-up, step) attempt, state `sending`, with a Message-ID from `newMessageId` and a lease,
//    before any SMTP traffic. A caller that loses the insert sends nothing.
// 2. SMTP, outside any transaction. Once the server has accepted the envelope (354 to DATA), and
//    before the message itself is written, the attempt's `handed_over_at` is set (hand-over.ts).
// 3. Accepted: record everything in one transaction (record-send.ts).
//    Temporary failure (4xx, connection refused, timeout, login refused): delete the attempt, so
//    nothing is recorded as sent and a later run tries the step again. A 4xx to RCPT TO defers
//    that recipient alone; any other one keeps the account out of the rest of the run.
//    A provider's sending quota (SendingQuotaError: 554 5.2.0 SubmissionQuotaExceeded, 550 5.4.5
//    daily quota, a 421 4.7.0 rate limit…), at whatever stage, is the account's, never the step's:
//    the attempt is deleted, the account's wait recorded (account-limits.ts), the step stays due.
//    Permanent failure (5xx on the recipient or the message: a kind the error table says refuses
//    the item): the attempt becomes `failed` with the server's reason and the company is notified;
//    the step is never retried automatically.
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
// An HTTP API (Microsoft Graph's sendMail) has no such envelope step: its hand-over is written just
// before the request, and a request whose answer was lost (UncertainDeliveryError) makes the attempt
// `uncertain` at once, the company notified, never resent automatically.
// Narrow case kept as is for SMTP: a connection lost after the final "." but before the server's reply looks
// like a temporary failure, and the step is retried (RFC 5321 §4.1.1.4 accepts such duplicates).

import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { followupSendAttempts } from "../../db/schema.js";
import { ERROR_KINDS, type JobError, shortReason, UncertainDeliveryError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { ComposedEmail, MailSender } from "../../mail/mail-sender.js";
import { isServerFailure, SendingQuotaError, smtpErrorOf } from "../../mail/smtp.js";
import { recordQuotaWait } from "../account-limits.js";
import type { AnsweredMessage } from "../answered-message.js";
import { smtpTenantRefusal, switchToGraph } from "../../mail/switch-to-graph.js";
import type { SendOutcome } from "./channel.js";
import { withHandOver } from "./hand-over.js";
import { notifyFailedSend, notifyUncertainSend } from "../../notify/notify-company.js";
import { recordSentFollowup } from "../record-send.js";
import type { RenderedEmail } from "../render.js";
import type { Sender } from "../sender.js";

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
  /** The message it answers, when it continues a conversation: kept with the sent message. */
  answered?: AnsweredMessage | undefined;
  /** The sender's way out: the run's SMTP session (its connections kept across sends), or Microsoft Graph. */
  via: MailSender;
  /** Called once the server accepted the message, before it is recorded (the account is free again). */
  onAccepted?: () => void;
  /**
   * Called as soon as the failure is known when it says the server is not to be used again this run
   * (a 4xx but to RCPT TO, no reply, a refused login: isServerFailure), before the attempt is cleaned up, so that
   * no send through the account starts after it while this one is still being written down.
   */
  onServerFailure?: () => void;
}

/** Sends and records one claimed step; never throws for an SMTP failure. */
export async function sendEmailFollowup(db: Db, request: SendRequest, log: Logger): Promise<SendOutcome> {
  const handed = await withHandOver(db, request.attemptId, request.now, (onHandOver) => request.via.send(request.message, { onHandOver }));
  // Another run owns the step now (this one outlived its lease): nothing was written, nothing to undo.
  if ("released" in handed) return { outcome: "not_claimed", reason: "step_taken" };
  if ("failure" in handed) {
    const failure = smtpErrorOf(handed.failure);
    if (isServerFailure(failure)) request.onServerFailure?.();
    // A Microsoft tenant with SMTP AUTH off: the next run sends through Graph (switch-to-graph.ts).
    const tenantRefusal = request.sender.integrationId !== null ? smtpTenantRefusal(failure) : undefined;
    if (tenantRefusal) await switchToGraph(db, request.sender.integrationId!, tenantRefusal, { now: () => request.now, log });
    if (failure instanceof SendingQuotaError) return waitForQuota(db, request, failure, log);
    return failAttempt(db, request, failure, log);
  }
  request.onAccepted?.();
  try {
    const historyId = await recordSentFollowup(db, {
      attemptId: request.attemptId,
      followupId: request.followupId,
      companyId: request.companyId,
      clientId: request.clientId,
      step: request.step,
      messageId: request.messageId,
      recipient: request.recipient,
      from: request.sender.from,
      integrationId: request.sender.integrationId,
      email: request.email,
      smtpResponse: handed.accepted.response,
      answered: request.answered,
      sourceThreadId: handed.accepted.threadId ?? null,
      sentAt: request.now,
      isLastAllowed: request.isLastAllowed,
    });
    return { outcome: "sent", historyId, messageId: request.messageId };
  } catch (err) {
    // The email left but could not be recorded: the attempt stays `sending` and turns `uncertain`.
    log.error("followup sent but not recorded", { followupId: request.followupId, step: request.step, error: shortReason(err) });
    return { outcome: "unrecorded", reason: shortReason(err) };
  }
}

/** The provider said the account sent too much: the account waits, the step stays due (its attempt deleted). */
async function waitForQuota(db: Db, request: SendRequest, err: SendingQuotaError, log: Logger): Promise<SendOutcome> {
  const reason = shortReason(err);
  const { sender } = request;
  const until = await recordQuotaWait(db, {
    key: sender.key, companyId: sender.integrationId === null ? null : request.companyId, integrationId: sender.integrationId,
    scope: err.scope, reason, now: request.now,
  });
  await db.delete(followupSendAttempts).where(and(eq(followupSendAttempts.id, request.attemptId), eq(followupSendAttempts.state, "sending")));
  log.warn("sending quota reached: the account waits", { followupId: request.followupId, step: request.step, until: until.toISOString(), error: reason });
  return { outcome: "quota_reached", reason };
}

/** Settles a refused send by its kind (lib/errors.ts): refused for good → `failed` and the company told; else left to a later run. */
async function failAttempt(db: Db, request: SendRequest, err: JobError, log: Logger): Promise<SendOutcome> {
  const { kind } = err;
  const reason = shortReason(err);
  const fields = { followupId: request.followupId, step: request.step, kind, error: reason };
  const isCurrent = and(eq(followupSendAttempts.id, request.attemptId), eq(followupSendAttempts.state, "sending"));
  if (err instanceof UncertainDeliveryError) {
    await db.transaction(async (tx) => {
      await tx.update(followupSendAttempts).set({ state: "uncertain", error: reason, finishedAt: request.now, updatedAt: request.now }).where(isCurrent);
      await notifyUncertainSend(tx, { ...request, reason });
    });
    log.warn("followup may have been sent: left uncertain, not resent", fields);
    return { outcome: "failed", kind: "uncertain", reason, isServerDown: true };
  }
  if (ERROR_KINDS[kind].isItemRefused) {
    await db.transaction(async (tx) => {
      await tx.update(followupSendAttempts).set({ state: "failed", error: reason, finishedAt: request.now, updatedAt: request.now }).where(isCurrent);
      await notifyFailedSend(tx, { ...request, reason });
    });
    log[ERROR_KINDS[kind].level]("followup refused by SMTP", fields);
  } else {
    await db.delete(followupSendAttempts).where(isCurrent);
    log[ERROR_KINDS[kind].level]("followup not sent, will retry", fields);
  }
  return { outcome: "failed", kind, reason, isServerDown: isServerFailure(err) };
}
