// One batch of a run: a few follow-ups of one company, decided together just before they are sent.
// Their facts are read in a few queries (decide-followup.ts); each step found due goes to the first
// of the run's channels that carries it (channels/channel.ts), which writes it as a draft or says
// why it is skipped; then each channel sends its drafts of the round. A client's follow-ups always
// fall into the same batch, and only one of them goes per round: the others are decided again once
// the first is settled, exactly as if they came one after the other (sent → "already contacted
// today"; refused for good → the next one may go). Batches of different companies run at once;
// what an account carries at once is the channel's to limit.

import { ERROR_KINDS, kindOf, shortReason } from "../errors.js";
import type { JobContext } from "../jobs/run-job.js";
import type { Draft, DueStep, OpenChannel } from "./channels/channel.js";
import { closeFollowup } from "./close-followup.js";
import { decideFollowups, type FollowupDecision, MISSING_RECIPIENT_REASON } from "./decide-followup.js";
import { countOutcome, type FollowupOutcome, type FollowupParams, type FollowupSummary } from "./followup-summary.js";
import type { CompanyContext } from "./load-company.js";
import { mediumOf, templateValuesOf } from "./render.js";
import type { FollowupCandidate } from "./select-candidates.js";

/** What the workers of one run share. */
export interface RunState {
  /** The run's channels, open, in the order they are asked whether they carry a step. */
  channels: OpenChannel[];
  /** Dry runs: clients already given a message in the plan (one per client per day). */
  plannedClients: Set<number>;
  /** A company's name, settings and sender, read once per run. */
  companyOf(companyId: number): Promise<CompanyContext>;
}

/** One batch being worked on: its company, and where its outcomes go. */
interface Batch {
  ctx: JobContext;
  params: FollowupParams;
  run: RunState;
  company: CompanyContext;
  count(followupId: number, outcome: FollowupOutcome): void;
  /** Counts `candidates` failed as a whole (the database failed before any was sent). */
  failAll(candidates: FollowupCandidate[], err: unknown): void;
}

/** One round of a batch: the drafts each channel will send, at most one per client. */
interface Round {
  drafts: Map<OpenChannel, Draft[]>;
  clients: Set<number>;
}

/** Decides, claims and sends `batch` (one company's follow-ups); counts everything in `summary`. */
export async function processBatch(
  ctx: JobContext,
  params: FollowupParams,
  summary: FollowupSummary,
  run: RunState,
  batch: FollowupCandidate[],
): Promise<void> {
  summary.examined += batch.length;
  const count = (followupId: number, outcome: FollowupOutcome) => countOutcome(summary, followupId, outcome);
  const failAll = (candidates: FollowupCandidate[], err: unknown) => {
    // A database hiccup: count these follow-ups as failed, go on with the others.
    const kind = kindOf(err);
    for (const candidate of candidates) count(candidate.id, { outcome: "failed", step: 0, kind, reason: shortReason(err) });
    ctx.log[ERROR_KINDS[kind].level]("followups failed", { companyId: batch[0]!.companyId, count: candidates.length, kind, error: shortReason(err) });
  };
  let company: CompanyContext;
  try {
    company = await run.companyOf(batch[0]!.companyId);
  } catch (err) {
    return failAll(batch, err);
  }
  const current: Batch = { ctx, params, run, company, count, failAll };
  for (let pending = batch; pending.length > 0; ) {
    const later = await playRound(current, pending);
    if (later === "out_of_time") {
      summary.remaining = true;
      return;
    }
    pending = later;
  }
}

/**
 * Decides `pending` now, prepares and sends what is due; returns the follow-ups left for the next
 * round (a client's second one), or "out_of_time" when a channel ran out of the run's time.
 */
async function playRound(batch: Batch, pending: FollowupCandidate[]): Promise<FollowupCandidate[] | "out_of_time"> {
  const { ctx, company } = batch;
  const now = ctx.now();
  let decisions: Map<number, FollowupDecision>;
  try {
    const toDecide = pending.map((candidate) => ({ candidate, settings: company.settings, channel: mediumOf(company.settings.templates, candidate.type) }));
    decisions = await decideFollowups(ctx.db, toDecide, now);
  } catch (err) {
    batch.failAll(pending, err);
    return [];
  }
  const round: Round = { drafts: new Map(), clients: new Set() };
  const later: FollowupCandidate[] = [];
  for (const candidate of pending) {
    try {
      if ((await placeInRound(batch, round, candidate, decisions.get(candidate.id)!, now)) === "later") later.push(candidate);
    } catch (err) {
      batch.failAll([candidate], err);
    }
  }
  return (await sendRound(batch, round)) ? later : "out_of_time";
}

/**
 * Applies one decision: counts a skip or a wait, closes, or hands the due step to its channel,
 * which prepares it; the draft is then planned (dry run) or put in the round. "later" when the
 * client already has a message in this round.
 */
async function placeInRound(batch: Batch, round: Round, candidate: FollowupCandidate, decided: FollowupDecision, now: Date): Promise<"later" | undefined> {
  const step = await dueStepOf(batch, candidate, decided, now);
  if (!step) return undefined;
  const channel = await channelFor(batch.run.channels, step);
  const prepared = await channel.prepare(step);
  const clientId = step.candidate.clientId;
  if ("skip" in prepared) {
    batch.count(candidate.id, { outcome: "skipped", reason: prepared.skip });
  } else if (batch.params.isDryRun) {
    const isPlanned = !batch.run.plannedClients.has(clientId);
    batch.run.plannedClients.add(clientId);
    batch.count(candidate.id, isPlanned ? { outcome: "planned", plan: prepared.plan } : { outcome: "skipped", reason: "client_already_contacted_today" });
  } else if (round.clients.has(clientId)) {
    return "later";
  } else {
    round.clients.add(clientId);
    round.drafts.set(channel, [...(round.drafts.get(channel) ?? []), prepared]);
  }
  return undefined;
}

/** The due step of a "send" decision; any other decision is counted (and a close applied) here. */
async function dueStepOf(batch: Batch, candidate: FollowupCandidate, decided: FollowupDecision, now: Date): Promise<DueStep | undefined> {
  const { decision, source, recipient, sendCount } = decided;
  const { company } = batch;
  if (decision.kind === "skip" || decision.kind === "wait") return void batch.count(candidate.id, { outcome: "skipped", reason: decision.reason });
  if (decision.kind === "close") {
    if (!batch.params.isDryRun) await closeFollowup(batch.ctx.db, candidate.id, now);
    return void batch.count(candidate.id, { outcome: "closed", reason: decision.reason });
  }
  const medium = mediumOf(company.settings.templates, candidate.type);
  // The rule sends only with a recipient and an open source, and a recipient implies the client.
  if (!recipient || candidate.clientId === null || source?.state !== "open") {
    return void batch.count(candidate.id, { outcome: "skipped", reason: MISSING_RECIPIENT_REASON[medium] });
  }
  return {
    candidate: { ...candidate, clientId: candidate.clientId },
    company, medium, decision, source, recipient, now,
    values: templateValuesOf({ candidate, source, company, now }),
    isLastAllowed: sendCount + 1 >= company.settings.maxRelances,
  };
}

/** The first of the run's channels that carries `step`. */
async function channelFor(channels: OpenChannel[], step: DueStep): Promise<OpenChannel> {
  for (const channel of channels) if (await channel.carries(step)) return channel;
  throw new Error(`no follow-up channel carries ${step.medium} for company ${step.company.id}`);
}

/**
 * Each channel sends its drafts of the round. Every channel sends its own even when another ran
 * out of time (each judges the time it needs); false when one did, and the batch stops then.
 */
async function sendRound(batch: Batch, round: Round): Promise<boolean> {
  let hasTime = true;
  for (const [channel, drafts] of round.drafts) {
    try {
      if (!(await channel.send(drafts, (draft, outcome) => batch.count(draft.step.candidate.id, outcome)))) hasTime = false;
    } catch (err) {
      batch.failAll(drafts.map((draft) => draft.step.candidate), err);
    }
  }
  return hasTime;
}
