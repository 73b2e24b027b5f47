// Has the client answered one of a follow-up's emails? (Asked for a run's batch of follow-ups at once.) This is where the inbox sync and the
// follow-ups meet, through data only: the sync stores each inbound message with its Message-ID and
// headers and threads a reply into the conversation whose sent Message-ID it answers.
//
// A reply is an inbound message from the client (not an auto-reply, a bounce, or mail imported by a
// first sync) that either
// - sits in the conversation of one of the follow-up's sends and is dated after that send, or
// - names one of the follow-up's sent Message-IDs in its In-Reply-To or References headers (found
//   anywhere in its stored headers, whatever key the sync gave them; a Message-ID of ours is random
//   enough that a textual match cannot be a coincidence).

import { sql } from "drizzle-orm";
import { type Db, rowsOf } from "../db/client.js";

/** The follow-ups among `followupIds` whose client answered after one of their sends. */
export async function followupsWithClientReply(db: Db, followupIds: number[]): Promise<Set<number>> {
  if (followupIds.length === 0) return new Set();
  const result = await db.execute(sql`
    select distinct h.followup_id
    from followup_history h
    join conversations c on c.company_id = h.company_id
    join inbox_messages m on m.conversation_id = c.id
    where h.followup_id in (${sql.join(followupIds.map((id) => sql`${id}`), sql`, `)})
      and h.sent_at is not null
      and m.is_from_client and not m.is_auto_reply and not m.is_bounce and not m.is_backfill
      and (
        (m.conversation_id = h.conversation_id and m.created_at > h.sent_at)
        or (
          h.message_id is not null
          and m.created_at > h.sent_at - interval '1 day'
          and position(btrim(h.message_id, '<>') in m.external_metadata::text) > 0
        )
      )`);
  return new Set(rowsOf<{ followup_id: number }>(result).map((row) => Number(row.followup_id)));
}
