// Writes down, in one transaction, that the provider accepted a follow-up SMS: a `followup_history`
// row (`message_type` `sms`, the text as sent, the E.164 number, the provider's answer), one
// `sms_parts` row per segment id (their receipts come later), the attempt `sent`, and the follow-up
// closed after its last allowed send. All or nothing: otherwise the attempt stays `sending` and a
// later run reports it uncertain, as for email.

import { and, eq, inArray } from "drizzle-orm";
import type { DbOrTx } from "../../db/client.js";
import { FOLLOWUP_STATUS, followupHistory, followups, followupSendAttempts, HISTORY_MESSAGE_TYPE_SMS, HISTORY_STATUS, smsParts } from "../../db/schema.js";
import { AUTOMATIC_SENDER_NAME } from "../record-send.js";

export interface SentSms {
  attemptId: number;
  followupId: number;
  companyId: number;
  step: number;
  reference: string;
  recipient: string;
  text: string;
  provider: string;
  messageIds: string[];
  response: string;
  sentAt: Date;
  isLastAllowed: boolean;
}

/** Records an accepted SMS; returns the history row's id. */
export async function recordSentSms(db: DbOrTx, sent: SentSms): Promise<number> {
  return db.transaction(async (tx) => {
    const [history] = await tx
      .insert(followupHistory)
      .values({
        followupId: sent.followupId,
        companyId: sent.companyId,
        message: sent.text,
        messageType: HISTORY_MESSAGE_TYPE_SMS,
        status: HISTORY_STATUS.sent,
        sentByName: AUTOMATIC_SENDER_NAME,
        sentAt: sent.sentAt,
        step: sent.step,
        isAutomatic: true,
        recipient: sent.recipient,
        messageId: sent.reference,
        smtpResponse: sent.response,
        deliveryStatus: "submitted",
        deliveryStatusAt: sent.sentAt,
      })
      .returning({ id: followupHistory.id });
    const historyId = history!.id;
    if (sent.messageIds.length > 0) {
      await tx
        .insert(smsParts)
        .values(sent.messageIds.map((providerMessageId, index) => ({
          attemptId: sent.attemptId, historyId, companyId: sent.companyId, provider: sent.provider, providerMessageId, partNumber: index + 1,
        })))
        // A receipt can only name a part once: a provider reusing an id keeps the first row.
        .onConflictDoNothing();
    }
    await tx
      .update(followupSendAttempts)
      .set({ state: "sent", smtpResponse: sent.response, historyId, error: null, finishedAt: sent.sentAt, updatedAt: sent.sentAt })
      .where(and(eq(followupSendAttempts.id, sent.attemptId), inArray(followupSendAttempts.state, ["sending", "uncertain"])));
    await tx
      .update(followups)
      .set(sent.isLastAllowed ? { status: FOLLOWUP_STATUS.done, updatedAt: sent.sentAt } : { updatedAt: sent.sentAt })
      .where(eq(followups.id, sent.followupId));
    return historyId;
  });
}
