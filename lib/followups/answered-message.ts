// The message a follow-up email answers, so that it joins the conversation in the client's mail
// program (In-Reply-To and References, RFC 5322 §3.6.4) and, through Gmail, the same Gmail thread
// (`threadId`). The conversation is the follow-up's own from an earlier send (the reminders of an
// invoice form one thread), else the conversation the follow-up was created from (`source_type`
// `conversation`); its latest message with a Message-ID is the one answered. Only a conversation of
// the follow-up's company is ever read: a follow-up naming another company's conversation answers
// nothing. A source's thread id is used only when that message came through the mailbox the
// follow-up is sent from (a Gmail thread id means nothing to another mailbox).

import { sql } from "drizzle-orm";
import { type DbOrTx, rowsOf } from "../db/client.js";

/** References kept at most, the oldest dropped first (RFC 5322 asks for the first; mail programs cope). */
const MAX_REFERENCES = 20;

export interface AnsweredMessage {
  /** Its Message-ID, with angle brackets. */
  messageId: string;
  /** The References of the answer: the answered message's own, then its Message-ID. */
  references: string[];
  /** Its source's thread (Gmail's `threadId`) when it came through the sending mailbox. */
  sourceThreadId: string | null;
}

export interface FollowupToAnswer {
  followupId: number;
  companyId: number;
  sourceType: string;
  sourceId: number | null;
  /** The mailbox it is sent from (null: the global relay). */
  integrationId: number | null;
}

/** The message `followup`'s email answers, or undefined when it starts a conversation. */
export async function messageToAnswer(db: DbOrTx, followup: FollowupToAnswer): Promise<AnsweredMessage | undefined> {
  const sourceConversationId = followup.sourceType === "conversation" ? followup.sourceId : null;
  const result = await db.execute(sql`
    with conversation as (
      select coalesce(
        (select h.conversation_id from followup_history h
          where h.followup_id = ${followup.followupId} and h.company_id = ${followup.companyId} and h.conversation_id is not null
          order by h.sent_at desc nulls last, h.id desc limit 1),
        ${sourceConversationId}::int
      ) as id
    )
    select m.external_id, m.external_metadata -> 'references' as "references", m.source_thread_id, m.integration_id
    from conversation x
    join conversations c on c.id = x.id and c.company_id = ${followup.companyId}
    join inbox_messages m on m.conversation_id = c.id
    where m.external_id is not null
    order by m.created_at desc, m.id desc
    limit 1`);
  const [row] = rowsOf<{ external_id: string; references: unknown; source_thread_id: string | null; integration_id: number | null }>(result);
  if (!row || !isMessageId(row.external_id)) return undefined;
  // Imported messages keep their references normalized, without the angle brackets.
  const earlier = (Array.isArray(row.references) ? row.references : [])
    .flatMap((r) => (typeof r === "string" ? [r.startsWith("<") ? r : `<${r}>`] : []))
    .filter(isMessageId);
  const references = [...earlier.filter((r) => r !== row.external_id), row.external_id].slice(-MAX_REFERENCES);
  const isSameMailbox = followup.integrationId !== null && row.integration_id !== null && Number(row.integration_id) === followup.integrationId;
  return { messageId: row.external_id, references, sourceThreadId: isSameMailbox ? row.source_thread_id : null };
}

/** `<local@domain>` with nothing that could break a header line. */
function isMessageId(value: string): boolean {
  return /^<[^<>\s]+@[^<>\s]+>$/.test(value) && value.length <= 998;
}
