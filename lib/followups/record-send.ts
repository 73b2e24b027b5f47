// Writes down, in one statement, that SMTP accepted a follow-up email: the attempt becomes `sent`,
// a `followup_history` row keeps the text, Message-ID and SMTP reply, the email is filed as an
// outbound message in the follow-up's conversation (so the client's answer threads under it), and
// the follow-up is closed after its last allowed send. Either all of it is recorded or none, in
// which case the attempt stays `sending` and a later run reports it as uncertain.

import { sql } from "drizzle-orm";
import { type DbOrTx, rowsOf } from "../db/client.js";
import { CONVERSATION_STATUS, FOLLOWUP_STATUS, HISTORY_MESSAGE_TYPE_EMAIL, HISTORY_STATUS, MESSAGE_SOURCE_EMAIL } from "../db/schema.js";
import { normalizeMessageId } from "../inbox/message-id.js";
import { subjectKey } from "../inbox/subject-key.js";
import type { AnsweredMessage } from "./answered-message.js";
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
  /** The message it answered (its In-Reply-To and References), when it continued a conversation. */
  answered?: AnsweredMessage | undefined;
  /** The thread its provider filed it in (Gmail's `threadId`): the next step answers in it. */
  sourceThreadId?: string | null;
  sentAt: Date;
  /** True when this send reaches `max_relances`: the follow-up is closed with it. */
  isLastAllowed: boolean;
}

/**
 * Records an accepted send; returns the new history row's id. One statement (data-modifying CTEs,
 * atomic like a transaction): it runs once per email, and as eight statements in a transaction it
 * was most of the database round trips of a send.
 */
export async function recordSentFollowup(db: DbOrTx, sent: SentFollowup): Promise<number> {
  const at = sql`${sent.sentAt.toISOString()}::timestamptz`;
  // Kept as the import keeps an email's headers (ids normalized), so the next step's answer extends them.
  const normalized = (ids: string[]) => ids.flatMap((id) => normalizeMessageId(id) ?? []);
  const metadata = JSON.stringify({
    to: [sent.recipient], subject: sent.email.subject, followup_id: sent.followupId, step: sent.step,
    ...(sent.answered ? { inReplyTo: normalized([sent.answered.messageId]), references: normalized(sent.answered.references) } : {}),
  });
  const result = await db.execute(sql`
    with previous as (
      -- The follow-up's conversation from an earlier send, when it still exists.
      select h.conversation_id as id
      from followup_history h join conversations c on c.id = h.conversation_id
      where h.followup_id = ${sent.followupId} and h.conversation_id is not null
      order by h.sent_at desc
      limit 1
    ), touched as (
      update conversations set last_message_at = ${at}, updated_at = ${at}
      where id in (select id from previous)
      returning id
    ), created as (
      insert into conversations (company_id, client_id, integration_id, subject, subject_key, status, source, unread_count, last_message_at, created_at, updated_at)
      select ${sent.companyId}::int, ${sent.clientId}::int, ${sent.integrationId}::int, ${sent.email.subject}, ${subjectKey(sent.email.subject)},
        ${CONVERSATION_STATUS.waiting}, ${MESSAGE_SOURCE_EMAIL}, 0, ${at}, ${at}, ${at}
      where not exists (select 1 from previous)
      returning id
    ), conversation as (
      select id from touched union all select id from created
    ), message as (
      -- The inbox's own key for this Message-ID: if the sync later finds this email in the
      -- mailbox's Sent folder, the unique (integration_id, dedupe_key) makes it the same row.
      insert into inbox_messages (conversation_id, from_name, from_email, content, html_content, source, is_from_client, read,
        external_id, external_metadata, integration_id, dedupe_key, source_thread_id, created_at, imported_at)
      select id, ${sent.from.name}, ${sent.from.address}, ${sent.email.text}, ${sent.email.html}, ${MESSAGE_SOURCE_EMAIL}, false, true,
        ${sent.messageId}, ${metadata}::jsonb, ${sent.integrationId}::int, ${normalizeMessageId(sent.messageId) ?? sent.messageId},
        ${sent.sourceThreadId ?? null}, ${at}, ${at}
      from conversation
      on conflict do nothing
    ), history as (
      insert into followup_history (followup_id, company_id, message, message_type, status, sent_by_name, sent_at, conversation_id, step,
        is_automatic, subject, recipient, message_id, smtp_response)
      select ${sent.followupId}::int, ${sent.companyId}::int, ${sent.email.text}, ${HISTORY_MESSAGE_TYPE_EMAIL}, ${HISTORY_STATUS.sent},
        ${AUTOMATIC_SENDER_NAME}, ${at}, (select id from conversation), ${sent.step}::int, true, ${sent.email.subject}, ${sent.recipient},
        ${sent.messageId}, ${sent.smtpResponse}
      returning id
    ), attempt as (
      -- \`uncertain\` too: a send slower than its lease was flagged by another run, but it did go out.
      update followup_send_attempts
      set state = 'sent', smtp_response = ${sent.smtpResponse}, history_id = (select id from history), error = null, finished_at = ${at}, updated_at = ${at}
      where id = ${sent.attemptId} and state in ('sending', 'uncertain')
    ), followup as (
      update followups
      set status = case when ${sent.isLastAllowed}::boolean then ${FOLLOWUP_STATUS.done} else status end, updated_at = ${at}
      where id = ${sent.followupId}
    )
    select id from history`);
  const [history] = rowsOf<{ id: number }>(result);
  if (!history) throw new Error("follow-up history row not written");
  return Number(history.id);
}
