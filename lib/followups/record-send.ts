// Writes down, in one transaction, that SMTP accepted a follow-up email: the attempt becomes `sent`,
// a `followup_history` row keeps the text, Message-ID and SMTP reply, the email is filed as an
// outbound message in the follow-up's conversation (so the client's answer threads under it), and
// the follow-up is closed after its last allowed send. Either all of it is recorded or none, in
// which case the attempt stays `sending` and a later run reports it as uncertain.

import { and, desc, eq, inArray, isNotNull } from "drizzle-orm";
import type { Db } from "../db/client.js";
import {
  CONVERSATION_STATUS,
  conversations,
  FOLLOWUP_STATUS,
  followupHistory,
  followups,
  followupSendAttempts,
  HISTORY_MESSAGE_TYPE_EMAIL,
  HISTORY_STATUS,
  inboxMessages,
  MESSAGE_SOURCE_EMAIL,
} from "../db/schema.js";
import { normalizeMessageId } from "../inbox/message-id.js";
import { subjectKey } from "../inbox/subject-key.js";
import type { RenderedEmail } from "./render.js";

/** The author shown in the history for emails the job sent. */
export const AUTOMATIC_SENDER_NAME = "Relance automatique";

export interface SentFollowup {
  attemptId: number;
  followupId: number;
  companyId: number;
  clientId: number;
  step: number;
  messageId: string;
  recipient: string;
  from: { name: string; address: string };
  integrationId: number | null;
  email: RenderedEmail;
  smtpResponse: string;
  sentAt: Date;
  /** True when this send reaches `max_relances`: the follow-up is closed with it. */
  isLastAllowed: boolean;
}

/** Records an accepted send; returns the new history row's id. */
export async function recordSentFollowup(db: Db, sent: SentFollowup): Promise<number> {
  return db.transaction(async (tx) => {
    const conversationId = await conversationFor(tx as unknown as Db, sent);
    await tx
      .insert(inboxMessages)
      .values({
        conversationId,
        fromName: sent.from.name,
        fromEmail: sent.from.address,
        content: sent.email.text,
        htmlContent: sent.email.html,
        source: MESSAGE_SOURCE_EMAIL,
        isFromClient: false,
        read: true,
        externalId: sent.messageId,
        externalMetadata: { to: [sent.recipient], subject: sent.email.subject, followup_id: sent.followupId, step: sent.step },
        integrationId: sent.integrationId,
        // The inbox's own key for this Message-ID: if the sync later finds this email in the
        // mailbox's Sent folder, the unique (integration_id, dedupe_key) makes it the same row.
        dedupeKey: normalizeMessageId(sent.messageId) ?? sent.messageId,
        createdAt: sent.sentAt,
        importedAt: sent.sentAt,
      })
      .onConflictDoNothing();
    const [history] = await tx
      .insert(followupHistory)
      .values({
        followupId: sent.followupId,
        companyId: sent.companyId,
        message: sent.email.text,
        messageType: HISTORY_MESSAGE_TYPE_EMAIL,
        status: HISTORY_STATUS.sent,
        sentByName: AUTOMATIC_SENDER_NAME,
        sentAt: sent.sentAt,
        conversationId,
        step: sent.step,
        isAutomatic: true,
        subject: sent.email.subject,
        recipient: sent.recipient,
        messageId: sent.messageId,
        smtpResponse: sent.smtpResponse,
      })
      .returning({ id: followupHistory.id });
    // `uncertain` too: a send slower than its lease was flagged by another run, but it did go out.
    await tx
      .update(followupSendAttempts)
      .set({ state: "sent", smtpResponse: sent.smtpResponse, historyId: history!.id, error: null, finishedAt: sent.sentAt, updatedAt: sent.sentAt })
      .where(and(eq(followupSendAttempts.id, sent.attemptId), inArray(followupSendAttempts.state, ["sending", "uncertain"])));
    await tx
      .update(followups)
      .set(sent.isLastAllowed ? { status: FOLLOWUP_STATUS.done, updatedAt: sent.sentAt } : { updatedAt: sent.sentAt })
      .where(eq(followups.id, sent.followupId));
    return history!.id;
  });
}

/** The follow-up's conversation from an earlier send, or a new one for this client. */
async function conversationFor(db: Db, sent: SentFollowup): Promise<number> {
  const [previous] = await db
    .select({ conversationId: followupHistory.conversationId })
    .from(followupHistory)
    .innerJoin(conversations, eq(conversations.id, followupHistory.conversationId))
    .where(and(eq(followupHistory.followupId, sent.followupId), isNotNull(followupHistory.conversationId)))
    .orderBy(desc(followupHistory.sentAt))
    .limit(1);
  if (previous?.conversationId) {
    await db
      .update(conversations)
      .set({ lastMessageAt: sent.sentAt, updatedAt: sent.sentAt })
      .where(eq(conversations.id, previous.conversationId));
    return previous.conversationId;
  }
  const [created] = await db
    .insert(conversations)
    .values({
      companyId: sent.companyId,
      clientId: sent.clientId,
      integrationId: sent.integrationId,
      subject: sent.email.subject,
      subjectKey: subjectKey(sent.email.subject),
      status: CONVERSATION_STATUS.waiting,
      source: MESSAGE_SOURCE_EMAIL,
      unreadCount: 0,
      lastMessageAt: sent.sentAt,
      createdAt: sent.sentAt,
      updatedAt: sent.sentAt,
    })
    .returning({ id: conversations.id });
  return created!.id;
}
