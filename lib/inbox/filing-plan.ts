// Decides, before any row of a batch is written, which conversation each message goes into and what
// each conversation becomes: the threading rules (`thread.ts`) and each message's effect
// (`conversation-effect.ts`) applied in UID order, each message seeing the ones filed before it as
// if they were stored already. The outcome is the one of filing the messages one at a time; the
// rows are then written in a fixed number of statements (`message-rows.ts`).

import { type ConversationEffect, type ConversationState, startedConversation, withMessage } from "./conversation-effect.js";
import type { LockedConversation } from "./conversation-locks.js";
import { chooseConversation, type FiledMessage, type ThreadingFacts, type ThreadingKeys, type ThreadTarget } from "./thread.js";

/** A message of the batch, as filing sees it. */
export interface MessageToFile {
  keys: ThreadingKeys;
  /** Its `external_id` (`<Message-ID>`), or null. */
  externalId: string | null;
  effect: ConversationEffect;
  /** Its correspondent's client. */
  clientId: number | null;
}

export interface PlannedConversation extends ThreadTarget {
  /** The stored conversation's id; null for one the batch creates. */
  id: number | null;
  /** Its row after the batch's messages filed so far. */
  state: ConversationState;
  /** The message (index in the batch) that creates it; null for a stored one. */
  startedBy: number | null;
}

export interface FilingPlan {
  /** Per message, the conversation it goes into. */
  conversationOf: PlannedConversation[];
  /** The conversations the batch creates, in the order it creates them. */
  created: PlannedConversation[];
  /** The stored conversations the batch files into, by id. */
  updated: PlannedConversation[];
}

/**
 * Conversation ids are int4 serials: one the batch creates gets an id after every stored one, and
 * the batch creates them in order. Ranks say the same (the subject rule breaks ties by id).
 */
const NEW_CONVERSATION_RANK = 2 ** 31;

/**
 * Files `messages` (UID order) given what the database holds: `facts` from the threading queries,
 * `stored` the conversations they name, as locked. Pure: nothing is written.
 */
export function planFiling(messages: MessageToFile[], facts: ThreadingFacts, stored: Map<number, LockedConversation>): FilingPlan {
  const touched = new Map<number, PlannedConversation>();
  const storedConversation = (id: number): PlannedConversation | undefined => {
    const row = stored.get(id);
    if (!row) return undefined;
    let planned = touched.get(id);
    if (!planned) {
      planned = {
        id, subjectKey: row.subjectKey, rank: id, startedBy: null,
        state: { status: row.status, lastMessageAt: row.lastMessageAt, clientId: row.clientId, unreadAdded: 0 },
      };
      touched.set(id, planned);
    }
    return planned;
  };
  const created: PlannedConversation[] = [];
  const filed: FiledMessage<PlannedConversation>[] = [];
  const updated = new Set<PlannedConversation>();
  for (const [index, message] of messages.entries()) {
    const { keys, effect, clientId } = message;
    let conversation = chooseConversation(index, keys, facts, filed, storedConversation);
    if (conversation) {
      conversation.state = withMessage(conversation.state, effect, keys.date, clientId);
      if (conversation.id !== null) updated.add(conversation);
    } else {
      const state = startedConversation(effect, keys.date, clientId);
      conversation = { id: null, subjectKey: keys.subjectKey, rank: NEW_CONVERSATION_RANK + created.length, startedBy: index, state };
      created.push(conversation);
    }
    filed.push({ conversation, externalId: message.externalId, fromLower: facts.fromLower[index] ?? null, date: keys.date });
  }
  return {
    conversationOf: filed.map((f) => f.conversation),
    created,
    updated: [...updated].sort((a, b) => a.rank - b.rank),
  };
}
