// What one stored message does to its conversation. The rules, as the app's users expect them:
//
// | message                                   | read  | unread | new conversation | existing conversation          |
// |-------------------------------------------|-------|--------|------------------|--------------------------------|
// | from a person (or a bounce), live sync    | false | +1     | À répondre       | À répondre, unless Urgent/Spam |
// | auto-reply (RFC 3834, bulk, list…)        | false | +1     | Résolu           | unchanged                      |
// | sent by the business (Sent folder, or     | true  | —      | Répondu          | À répondre → Répondu, when it  |
// | from the mailbox's own address)           |       |        |                  | is the latest message          |
// | backfill: found by a first sync or resync | true  | —      | Résolu           | unchanged                      |
// | window, dated before the mailbox was      |       |        |                  |                                |
// | connected (`backfill-rule.ts`)            |       |        |                  |                                |
//
// Backfill: connecting a mailbox imports up to 500 past messages that were handled elsewhere;
// showing them as 500 unread "À répondre" conversations would bury the one that matters, so they
// arrive read and settled. Auto-replies need no answer, but stay unread so a glance shows them.
// A bounce says a mail of the company did not arrive: someone must act, so it counts as inbound.
// The business's answer settles only what came before it: a client's message dated after it (the
// INBOX is synced before the Sent folder) still needs an answer. A conversation's latest date only
// moves forward, and its client, once known, stays.

import { CONVERSATION_STATUS, type CONVERSATION_STATUSES } from "../db/schema.js";

export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];
export type MessageRole = "inbound" | "auto-reply" | "outbound" | "backfill";

export interface ConversationEffect {
  isRead: boolean;
  /** Status of a conversation this message creates. */
  newConversationStatus: ConversationStatus;
  /**
   * Status of an existing conversation after this message, from its current one; `isLatest`: the
   * message is dated at or after every message the conversation has.
   */
  nextStatus(current: string, isLatest: boolean): string;
}

/** The role a message plays, from where it came from and who sent it (`isOutbound`: the business). */
export function messageRole(message: { isBackfill: boolean; isOutbound: boolean; isAutoReply: boolean; isBounce: boolean }): MessageRole {
  if (message.isBackfill) return "backfill";
  if (message.isOutbound) return "outbound";
  if (message.isAutoReply && !message.isBounce) return "auto-reply";
  return "inbound";
}

/** The effect of a message of `role` on its conversation. */
export function conversationEffect(role: MessageRole): ConversationEffect {
  switch (role) {
    case "inbound":
      return {
        isRead: false,
        newConversationStatus: CONVERSATION_STATUS.toAnswer,
        // Urgent is a stronger flag a person set; Spam is the user's verdict on the sender.
        nextStatus: (current) =>
          current === CONVERSATION_STATUS.urgent || current === CONVERSATION_STATUS.spam ? current : CONVERSATION_STATUS.toAnswer,
      };
    case "auto-reply":
      return { isRead: false, newConversationStatus: CONVERSATION_STATUS.resolved, nextStatus: (current) => current };
    case "outbound":
      return {
        isRead: true,
        newConversationStatus: CONVERSATION_STATUS.answered,
        nextStatus: (current, isLatest) => (isLatest && current === CONVERSATION_STATUS.toAnswer ? CONVERSATION_STATUS.answered : current),
      };
    case "backfill":
      return { isRead: true, newConversationStatus: CONVERSATION_STATUS.resolved, nextStatus: (current) => current };
  }
}

/** A conversation's row as filing messages changes it (`unreadAdded`: unread messages it added). */
export interface ConversationState {
  status: string;
  lastMessageAt: Date | null;
  clientId: number | null;
  unreadAdded: number;
}

/** The conversation a message of `effect`, dated `date`, starts (`clientId`: its correspondent's client). */
export function startedConversation(effect: ConversationEffect, date: Date, clientId: number | null): ConversationState {
  return { status: effect.newConversationStatus, lastMessageAt: date, clientId, unreadAdded: effect.isRead ? 0 : 1 };
}

/** `state` after one more message of `effect`, dated `date`, filed into it. */
export function withMessage(state: ConversationState, effect: ConversationEffect, date: Date, clientId: number | null): ConversationState {
  const latest = state.lastMessageAt?.getTime();
  const isLater = latest === undefined || latest < date.getTime();
  const isLatest = latest === undefined || latest <= date.getTime();
  return {
    status: effect.nextStatus(state.status, isLatest),
    lastMessageAt: isLater ? date : state.lastMessageAt,
    clientId: state.clientId ?? clientId,
    unreadAdded: state.unreadAdded + (effect.isRead ? 0 : 1),
  };
}
