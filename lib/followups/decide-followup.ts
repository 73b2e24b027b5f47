// Reads what the due-step rule needs about one follow-up (its source, sends, attempts, the client's
// replies and the last automatic email to the client) and applies the rule.

import { and, desc, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { type FollowupChannelName, followupHistory, followupSendAttempts } from "../db/schema.js";
import { mobileNumberOf } from "../sms/phone-number.js";
import { CONTACTING_STATES } from "./claim-followups.js";
import { hasClientReplied } from "./client-replied.js";
import { type DueDecision, dueStep, eligibilityOf, type FollowupFacts } from "./due-steps.js";
import type { FollowupCandidate } from "./select-candidates.js";
import type { FollowupSettings } from "./settings.js";
import { smsWindowOf } from "./sms-settings.js";
import { readSourceState, type SourceState } from "./source-state.js";

export interface FollowupDecision {
  decision: DueDecision;
  /** The source as read now (fresh amount and due date), when it was read. */
  source?: SourceState;
  recipient?: string;
  /** How many sends the follow-up had before this decision (manual ones included). */
  sendCount: number;
}

// One plain address: no display name, no list, no header-significant characters.
const SINGLE_ADDRESS = /^[^\s@<>,;:"'()[\]\\]+@[^\s@<>,;:"'()[\]\\]+\.[^\s@<>,;:"'()[\]\\]+$/;

/** Decides what to do with `candidate` at `now`. */
export async function decideFollowup(
  db: Db,
  candidate: FollowupCandidate,
  settings: FollowupSettings,
  now: Date,
  channel: FollowupChannelName = "email",
): Promise<FollowupDecision> {
  const facts: FollowupFacts = {
    status: candidate.status,
    kind: candidate.kind,
    isAutoEnabled: candidate.isAutoEnabled,
    autoFrequencyDays: candidate.autoFrequencyDays,
    shouldStopOnResponse: candidate.shouldStopOnResponse,
  };
  // Switched-off companies cost no further query.
  const ineligible = eligibilityOf(facts, settings);
  if (ineligible) return { decision: ineligible, sendCount: 0 };

  const [source, history, attempts, lastToClient] = await Promise.all([
    readSourceState(db, candidate),
    db
      .select({ sentAt: followupHistory.sentAt, createdAt: followupHistory.createdAt })
      .from(followupHistory)
      .where(eq(followupHistory.followupId, candidate.id)),
    db
      .select({ step: followupSendAttempts.step, state: followupSendAttempts.state })
      .from(followupSendAttempts)
      .where(eq(followupSendAttempts.followupId, candidate.id)),
    candidate.clientId === null
      ? Promise.resolve([])
      : db
          .select({ startedAt: followupSendAttempts.startedAt })
          .from(followupSendAttempts)
          .where(and(eq(followupSendAttempts.clientId, candidate.clientId), inArray(followupSendAttempts.state, [...CONTACTING_STATES])))
          .orderBy(desc(followupSendAttempts.startedAt))
          .limit(1),
  ]);
  const sendsAt = history.map((h) => h.sentAt ?? h.createdAt);
  const replied = candidate.shouldStopOnResponse && sendsAt.length > 0 ? await hasClientReplied(db, candidate.id) : false;
  // SMS: the client's mobile in E.164 and the stricter SMS window; the rest of the rule is the same.
  const phone = channel === "sms" ? mobileNumberOf(candidate.clientPhone) : undefined;
  const recipient = phone ? ("e164" in phone ? phone.e164 : undefined) : usableAddress(candidate.clientEmail);
  const decision = dueStep({
    now,
    settings: channel === "sms" ? { ...settings, sendingWindow: smsWindowOf(settings.sms, settings.sendingWindow) } : settings,
    missingRecipientReason: phone && "unusable" in phone ? phone.unusable : undefined,
    followup: facts,
    source,
    sendsAt,
    attempts,
    hasClientReplied: replied,
    recipient,
    lastAutomaticEmailToClientAt: lastToClient[0]?.startedAt,
  });
  return { decision, source, recipient, sendCount: sendsAt.length };
}

/** The client's address when it is one plain address, else undefined (never sent to). */
export function usableAddress(email: string | null): string | undefined {
  const trimmed = email?.trim();
  return trimmed && SINGLE_ADDRESS.test(trimmed) ? trimmed : undefined;
}
