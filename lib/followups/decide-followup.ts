// Reads what the due-step rule needs about a batch of follow-ups (their sources, sends, attempts, the
// clients' replies and the last automatic email to each client) and applies the rule to each.

import { and, inArray, max } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { type FollowupChannelName, followupHistory, followupSendAttempts, type SendAttemptState } from "../db/schema.js";
import { mobileNumberOf } from "../sms/phone-number.js";
import { CONTACTING_STATES } from "./claim-followups.js";
import { followupsWithClientReply } from "./client-replied.js";
import { type DueDecision, dueStep, eligibilityOf, type FollowupFacts } from "./due-steps.js";
import type { FollowupCandidate } from "./select-candidates.js";
import type { FollowupSettings } from "./settings.js";
import { smsWindowOf } from "./sms-settings.js";
import { readSourceStates, type SourceState } from "./source-state.js";

export interface FollowupDecision {
  decision: DueDecision;
  /** The source as read now (fresh amount and due date), when it was read. */
  source?: SourceState;
  recipient?: string;
  /** How many sends the follow-up had before this decision (manual ones included). */
  sendCount: number;
}

/** Why a step has no recipient on each medium, when nothing more precise is known. */
export const MISSING_RECIPIENT_REASON = {
  email: "no_client_email",
  sms: "no_client_phone",
} as const satisfies Record<FollowupChannelName, string>;

// One plain address: no display name, no list, no header-significant characters.
const SINGLE_ADDRESS = /^[^\s@<>,;:"'()[\]\\]+@[^\s@<>,;:"'()[\]\\]+\.[^\s@<>,;:"'()[\]\\]+$/;

/** A follow-up the switches let through, waiting for its facts. */
interface EligibleFollowup {
  candidate: FollowupCandidate;
  settings: FollowupSettings;
  channel: FollowupChannelName;
  facts: FollowupFacts;
}

/** What the rule reads about a batch's eligible follow-ups, keyed by follow-up (or client) id. */
interface BatchFacts {
  sources: Map<number, SourceState>;
  sendsAtOf: Map<number, Date[]>;
  attemptsOf: Map<number, { step: number; state: SendAttemptState }[]>;
  lastToClientOf: Map<number | null, Date | undefined>;
  replied: Set<number>;
}

/**
 * Decides what to do with each of `batch` at `now`, reading their facts in a fixed number of
 * queries (not per follow-up): a run decides a batch just before sending it, so the stop rules are
 * read moments before each email, not at the start of the run.
 */
export async function decideFollowups(
  db: Db,
  batch: { candidate: FollowupCandidate; settings: FollowupSettings; channel: FollowupChannelName }[],
  now: Date,
): Promise<Map<number, FollowupDecision>> {
  const decisions = new Map<number, FollowupDecision>();
  const eligible: EligibleFollowup[] = [];
  for (const { candidate, settings, channel } of batch) {
    const facts = factsOf(candidate);
    // Switched-off companies cost no further query.
    const ineligible = eligibilityOf(facts, settings);
    if (ineligible) decisions.set(candidate.id, { decision: ineligible, sendCount: 0 });
    else eligible.push({ candidate, settings, channel, facts });
  }
  if (eligible.length === 0) return decisions;
  const read = await readBatchFacts(db, eligible);
  for (const followup of eligible) decisions.set(followup.candidate.id, decideOne(followup, read, now));
  return decisions;
}

/** Reads the facts of `eligible` in five queries, four of them at once. */
async function readBatchFacts(db: Db, eligible: EligibleFollowup[]): Promise<BatchFacts> {
  const followupIds = eligible.map((e) => e.candidate.id);
  const clientIds = [...new Set(eligible.map((e) => e.candidate.clientId).filter((id) => id !== null))];
  const [sources, history, attempts, lastToClient] = await Promise.all([
    readSourceStates(db, eligible.map((e) => e.candidate)),
    db
      .select({ followupId: followupHistory.followupId, sentAt: followupHistory.sentAt, createdAt: followupHistory.createdAt })
      .from(followupHistory)
      .where(inArray(followupHistory.followupId, followupIds)),
    db
      .select({ followupId: followupSendAttempts.followupId, step: followupSendAttempts.step, state: followupSendAttempts.state })
      .from(followupSendAttempts)
      .where(inArray(followupSendAttempts.followupId, followupIds)),
    clientIds.length === 0
      ? []
      : db
          .select({ clientId: followupSendAttempts.clientId, startedAt: max(followupSendAttempts.startedAt) })
          .from(followupSendAttempts)
          .where(and(inArray(followupSendAttempts.clientId, clientIds), inArray(followupSendAttempts.state, [...CONTACTING_STATES])))
          .groupBy(followupSendAttempts.clientId),
  ]);
  const sendsAtOf = groupBy(history, (h) => h.followupId, (h) => h.sentAt ?? h.createdAt);
  const mayHaveReplies = eligible
    .filter((e) => e.candidate.shouldStopOnResponse && (sendsAtOf.get(e.candidate.id)?.length ?? 0) > 0)
    .map((e) => e.candidate.id);
  return {
    sources,
    sendsAtOf,
    attemptsOf: groupBy(attempts, (a) => a.followupId, (a) => ({ step: a.step, state: a.state })),
    lastToClientOf: new Map(lastToClient.map((row) => [row.clientId, row.startedAt ?? undefined])),
    replied: await followupsWithClientReply(db, mayHaveReplies),
  };
}

/** Applies the rule to one eligible follow-up, with the facts read for its batch. */
function decideOne({ candidate, settings, channel, facts }: EligibleFollowup, read: BatchFacts, now: Date): FollowupDecision {
  const source = read.sources.get(candidate.id)!;
  const sendsAt = read.sendsAtOf.get(candidate.id) ?? [];
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
    attempts: read.attemptsOf.get(candidate.id) ?? [],
    hasClientReplied: read.replied.has(candidate.id),
    recipient,
    lastAutomaticEmailToClientAt: candidate.clientId === null ? undefined : read.lastToClientOf.get(candidate.clientId),
  });
  return { decision, source, recipient, sendCount: sendsAt.length };
}

/** The client's address when it is one plain address, else undefined (never sent to). */
export function usableAddress(email: string | null): string | undefined {
  const trimmed = email?.trim();
  return trimmed && SINGLE_ADDRESS.test(trimmed) ? trimmed : undefined;
}

function factsOf(candidate: FollowupCandidate): FollowupFacts {
  return {
    status: candidate.status,
    kind: candidate.kind,
    isAutoEnabled: candidate.isAutoEnabled,
    autoFrequencyDays: candidate.autoFrequencyDays,
    shouldStopOnResponse: candidate.shouldStopOnResponse,
  };
}

function groupBy<T, V>(rows: T[], keyOf: (row: T) => number, valueOf: (row: T) => V): Map<number, V[]> {
  const groups = new Map<number, V[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(valueOf(row));
    else groups.set(key, [valueOf(row)]);
  }
  return groups;
}
