// One SMS step sent as a text through the company's SMS account, exactly once (the channel: sms.ts).
//
// As for email (send-email.ts): the (follow-up, step) attempt is inserted before the provider is
// contacted (its reference doubles as Vonage's `client-ref`); `handed_over_at` is written just
// before the request leaves (hand-over.ts); the accepted send is recorded in one transaction
// (record-sms-send.ts). Failure classes: refused for good (a number the operator rejects: a kind
// the error table says refuses the item) → `failed`, company notified, never retried; "later" (throttled, gateway down, bind refused) → the attempt is deleted and a
// later run sends the step; no clear answer once the request left (connection dropped mid-submit,
// a segment refused after others were accepted) → `uncertain`, company notified, never resent:
// a text, unlike an email, cannot be recalled or deduplicated by the phone.

import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { followupSendAttempts, notifications } from "../../db/schema.js";
import { ERROR_KINDS, kindOf, shortReason } from "../../errors.js";
import type { Logger } from "../../log.js";
import { SmsSubmitError, type SmsProvider, type SubmittedSms } from "../../sms/sms-provider.js";
import { claimContextOf, claimFollowupStep } from "../claim-followups.js";
import { notifyUncertainSend } from "../../notify/notify-company.js";
import type { SendOutcome } from "./channel.js";
import { withHandOver } from "./hand-over.js";
import { recordSentSms } from "./record-sms-send.js";

export interface SmsSendRequest {
  followupId: number;
  companyId: number;
  clientId: number;
  step: number;
  /** E.164. */
  recipient: string;
  text: string;
  segments: number;
  senderName: string;
  provider: SmsProvider;
  now: Date;
  timeZone: string;
  isLastAllowed: boolean;
  /** Called once the send is recorded: receipts that came before it can now find their rows. */
  onRecorded?: () => Promise<void>;
}

export const NOTIFICATION_TYPE_SMS_FAILED = "followup_sms_failed";

/** The subject an SMS attempt and a dry run's plan show for it. */
export function smsSubject(segments: number): string {
  return `SMS (${segments} segment${segments > 1 ? "s" : ""})`;
}

/** Claims, submits and records one SMS step; never throws for the provider's failure. */
export async function sendSmsFollowup(db: Db, request: SmsSendRequest, log: Logger): Promise<SendOutcome> {
  const reference = `lokario-f${request.followupId}-s${request.step}-${randomBytes(6).toString("hex")}`;
  const claim = await claimFollowupStep(db, {
    followupId: request.followupId,
    companyId: request.companyId,
    clientId: request.clientId,
    step: request.step,
    channel: "sms",
    sms: { provider: request.provider.key, sender: request.senderName },
    messageId: reference,
    recipient: request.recipient,
    subject: smsSubject(request.segments),
    ...claimContextOf(request.now, request.timeZone),
  });
  if (!claim.claimed) return { outcome: "not_claimed", reason: claim.reason };

  const sms = { from: request.senderName, to: request.recipient, text: request.text, reference };
  const handed = await withHandOver(db, claim.attemptId, request.now, (onHandOver) => request.provider.submit(sms, { onHandOver }));
  if ("released" in handed) return { outcome: "not_claimed", reason: "step_taken" };
  if ("failure" in handed) return failAttempt(db, request, claim.attemptId, handed.failure, log);
  return recordSubmitted(db, request, { attemptId: claim.attemptId, reference, submitted: handed.accepted }, log);
}

async function recordSubmitted(
  db: Db,
  request: SmsSendRequest,
  { attemptId, reference, submitted }: { attemptId: number; reference: string; submitted: SubmittedSms },
  log: Logger,
): Promise<SendOutcome> {
  try {
    const historyId = await recordSentSms(db, {
      attemptId,
      followupId: request.followupId,
      companyId: request.companyId,
      step: request.step,
      reference,
      recipient: request.recipient,
      text: request.text,
      provider: request.provider.key,
      messageIds: submitted.messageIds,
      response: submitted.response,
      sentAt: request.now,
      isLastAllowed: request.isLastAllowed,
    });
    await request.onRecorded?.();
    return { outcome: "sent", historyId, messageId: reference };
  } catch (err) {
    log.error("followup SMS sent but not recorded", { followupId: request.followupId, step: request.step, error: shortReason(err) });
    return { outcome: "unrecorded", reason: shortReason(err) };
  }
}

/** Settles a refused or interrupted submission: uncertain when the provider may have the text, else by its kind (lib/errors.ts). */
async function failAttempt(db: Db, request: SmsSendRequest, attemptId: number, thrown: unknown, log: Logger): Promise<SendOutcome> {
  const err = thrown instanceof SmsSubmitError ? thrown : new SmsSubmitError(kindOf(thrown), shortReason(thrown), { mayHaveBeenSent: true });
  const reason = shortReason(err);
  const fields = { followupId: request.followupId, step: request.step, kind: err.kind, error: reason };
  const isCurrent = and(eq(followupSendAttempts.id, attemptId), eq(followupSendAttempts.state, "sending"));
  if (err.mayHaveBeenSent) {
    await db.transaction(async (tx) => {
      await tx.update(followupSendAttempts).set({ state: "uncertain", error: reason, finishedAt: request.now, updatedAt: request.now }).where(isCurrent);
      await notifyUncertainSend(tx, { ...request, reason });
    });
    log.warn("followup SMS may have been sent: left uncertain, not resent", fields);
    return { outcome: "failed", kind: "uncertain", reason, isServerDown: err.isAccountDown };
  }
  if (ERROR_KINDS[err.kind].isItemRefused) {
    await db.transaction(async (tx) => {
      await tx.update(followupSendAttempts).set({ state: "failed", error: reason, finishedAt: request.now, updatedAt: request.now }).where(isCurrent);
      await tx.insert(notifications).values({
        companyId: request.companyId,
        type: NOTIFICATION_TYPE_SMS_FAILED,
        title: "Relance SMS non délivrée",
        message: `La relance SMS n°${request.step} au ${request.recipient} a été refusée par l'opérateur (${reason}). Vérifiez le numéro du client.`,
      });
    });
    log[ERROR_KINDS[err.kind].level]("followup SMS refused by the provider", fields);
  } else {
    await db.delete(followupSendAttempts).where(isCurrent);
    log[ERROR_KINDS[err.kind].level]("followup SMS not sent, will retry", fields);
  }
  return { outcome: "failed", kind: err.kind, reason, isServerDown: err.isAccountDown };
}
