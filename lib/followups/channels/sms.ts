// The SMS channel: one step sent as a text through the company's SMS account, exactly once.
//
// As for email (send-followup.ts): the (follow-up, step) attempt is inserted before the provider is
// contacted (its reference doubles as Vonage's `client-ref`); `handed_over_at` is written just
// before the request leaves; the accepted send is recorded in one transaction (record-sms-send.ts).
// Failure classes: refused for good (a number the operator rejects) → `failed`, company notified,
// never retried; "later" (throttled, gateway down, bind refused) → the attempt is deleted and a
// later run sends the step; no clear answer once the request left (connection dropped mid-submit,
// a segment refused after others were accepted) → `uncertain`, company notified, never resent:
// a text, unlike an email, cannot be recalled or deduplicated by the phone.

import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { followupSendAttempts, notifications } from "../../db/schema.js";
import { kindOf, shortReason } from "../../errors.js";
import type { Logger } from "../../log.js";
import { SmsSubmitError, type SmsProvider } from "../../sms/sms-provider.js";
import { claimFollowupStep, recordHandOver } from "../claim-followups.js";
import { startOfLocalDay } from "../local-time.js";
import { notifyUncertainSend } from "../../notify/notify-company.js";
import type { FollowupTemplate } from "../settings.js";
import type { FollowupChannel, SendOutcome } from "./channel.js";
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

/** The company's SMS template for `type`, when it chose SMS for it and has no email template. */
export function smsTemplateFor(templates: FollowupTemplate[], type: string): FollowupTemplate | undefined {
  const forType = templates.filter((t) => t.type === type);
  if (forType.some((t) => t.method === "email")) return undefined;
  return forType.find((t) => t.method === "sms");
}

export const smsChannel: FollowupChannel<SmsSendRequest> = { name: "sms", send: sendSmsFollowup };

async function sendSmsFollowup(db: Db, request: SmsSendRequest, log: Logger): Promise<SendOutcome> {
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
    subject: `SMS (${request.segments} segment${request.segments > 1 ? "s" : ""})`,
    startedAt: request.now,
    // The same lease as email: longer than any live submission plus the longest run budget.
    leaseUntil: new Date(request.now.getTime() + 20 * 60_000),
    clientDay: { startAt: startOfLocalDay(request.now, request.timeZone), endAt: startOfLocalDay(request.now, request.timeZone, 1) },
  });
  if (!claim.claimed) return { outcome: "not_claimed", reason: claim.reason };

  let isReleased = false;
  let handOverFailure: unknown;
  let submitted;
  try {
    submitted = await request.provider.submit(
      { from: request.senderName, to: request.recipient, text: request.text, reference },
      {
        onHandOver: async () => {
          const isRecorded = await recordHandOver(db, claim.attemptId, request.now).catch((err: unknown) => {
            handOverFailure = err;
            throw err;
          });
          isReleased = !isRecorded;
          if (isReleased) throw new Error("attempt released after its lease: not ours to send any more");
        },
      },
    );
  } catch (err) {
    if (isReleased) return { outcome: "not_claimed", reason: "step_taken" };
    if (handOverFailure !== undefined) throw handOverFailure;
    return failAttempt(db, request, claim.attemptId, err, log);
  }

  try {
    const historyId = await recordSentSms(db, {
      attemptId: claim.attemptId,
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
  if (err.kind === "permanent") {
    await db.transaction(async (tx) => {
      await tx.update(followupSendAttempts).set({ state: "failed", error: reason, finishedAt: request.now, updatedAt: request.now }).where(isCurrent);
      await tx.insert(notifications).values({
        companyId: request.companyId,
        type: NOTIFICATION_TYPE_SMS_FAILED,
        title: "Relance SMS non délivrée",
        message: `La relance SMS n°${request.step} au ${request.recipient} a été refusée par l'opérateur (${reason}). Vérifiez le numéro du client.`,
      });
    });
    log.warn("followup SMS refused by the provider", fields);
  } else {
    await db.delete(followupSendAttempts).where(isCurrent);
    log.warn("followup SMS not sent, will retry", fields);
  }
  return { outcome: "failed", kind: err.kind, reason, isServerDown: err.isAccountDown };
}
