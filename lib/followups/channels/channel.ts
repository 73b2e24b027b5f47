// The seam between deciding a follow-up step (channel-free: due-steps.ts, decide-followup.ts) and
// delivering it. A run opens each channel once (process-automatic.ts lists them); a batch
// (process-batch.ts) hands every due step to the first channel that carries it, and knows no
// channel by name. A channel owns its whole path:
//   open     its state for the run: kept sessions, accounts' slots, the accounts that failed
//   prepare  one due step → a draft (written from the step's template values) or a skip reason
//   send     one round's drafts: plan them (claims, slots, per-account limits), hand each over,
//            record it, report its outcome
//   close    its sessions, at the end of the run
// Whatever the channel, the job's rules hold the same way: the (follow-up, step) attempt is claimed
// before the provider is contacted (claim-followups.ts) and the claim counts every channel for the
// client's day; the hand-over is written just before the message leaves; an answer lost after it
// leaves the attempt uncertain (never resent); an account that fails (4xx, refused login, no reply)
// sends nothing more this run. Email goes by SMTP or Microsoft Graph (smtp.ts), SMS by Vonage or SMPP (sms.ts); a new
// channel implements FollowupChannel below.

import type { FollowupChannelName } from "../../db/schema.js";
import { ERROR_KINDS, type ErrorKind, kindOf, shortReason } from "../../errors.js";
import type { JobContext } from "../../jobs/run-job.js";
import type { Logger } from "../../log.js";
import type { DueDecision } from "../due-steps.js";
import type { FollowupOutcome, PlannedEmail } from "../followup-summary.js";
import type { CompanyContext } from "../load-company.js";
import type { TemplateValues } from "../render.js";
import type { FollowupCandidate } from "../select-candidates.js";
import type { SourceState } from "../source-state.js";

/** One step the rule decided is due now, with everything a channel needs to write and address it. */
export interface DueStep {
  candidate: FollowupCandidate & { clientId: number };
  company: CompanyContext;
  /** What the company chose for the follow-up's type; the rule picked the recipient and the window for it. */
  medium: FollowupChannelName;
  decision: Extract<DueDecision, { kind: "send" }>;
  /** The source document as read just now: fresh amount, due date and number. */
  source: Extract<SourceState, { state: "open" }>;
  /** The client's address, or mobile number in E.164, as the rule validated it for `medium`. */
  recipient: string;
  /** The step's template values, built once (render.ts). */
  values: TemplateValues;
  /** True when this send reaches `max_relances`: the follow-up is closed with it. */
  isLastAllowed: boolean;
  now: Date;
}

/** A step a channel made ready to go: what it will hand over (the channel's own fields), and what a dry run lists. */
export interface Draft {
  readonly step: DueStep;
  readonly plan: PlannedEmail;
}

/** What the channels of a run are opened with. */
export interface ChannelContext extends JobContext {
  /** The part of the budget kept for a hand-over started just before the deadline to finish. */
  reserveMs: number;
}

/** Counts what became of one draft (followup-summary.ts: the run's one counter). */
export type ReportOutcome<D extends Draft = Draft> = (draft: D, outcome: FollowupOutcome) => void;

/**
 * A way of delivering follow-ups (SMTP, an SMS provider; later Microsoft Graph's `sendMail` or the
 * Gmail API's `users.messages.send`): a name, and how to open it for one run. A new channel is one
 * file exporting one of these, added to the run's list (process-automatic.ts) before the channel it
 * takes steps from.
 */
export interface FollowupChannel {
  /** Names the channel in logs. */
  readonly name: string;
  /** Opens the channel for one run: its per-run state lives in the returned object, closed at the end. */
  open(ctx: ChannelContext): OpenChannel;
}

/** A channel opened for one run. Its methods are called by the run's workers, several batches at once. */
export interface OpenChannel<D extends Draft = Draft> {
  readonly name: string;
  /**
   * Whether this channel delivers `step` (by its medium, or the company's sender). The run asks its
   * channels in order and gives the step to the first that says yes.
   */
  carries(step: DueStep): boolean | Promise<boolean>;
  /**
   * Turns a due step into a draft, or says why it is skipped this run (no account, an account down,
   * too long…). Writes nothing and contacts no provider: dry runs call it too, and list the draft's
   * `plan` instead of sending it.
   */
  prepare(step: DueStep): Promise<D | { skip: string }>;
  /**
   * Sends one round's drafts: one company's, at most one per client, in the order given. Claims
   * each step before its provider is contacted, waits for a slot of its account, hands it over and
   * records it, and reports every draft's outcome exactly once through `report` (a provider's
   * failure is an outcome, not an exception). Throws only when the round as a whole could not be
   * worked on (the database failed before any hand-over); its drafts are then counted failed.
   * Returns false when the run's time ran out before all were sent: those not sent stay due, and
   * the batch stops after this round.
   */
  send(drafts: D[], report: ReportOutcome<D>): Promise<boolean>;
  /** Ends the run's sessions; called once, after the last send. */
  close(): Promise<void>;
}

/**
 * What the delivery of one step came to (send-email.ts for SMTP, send-sms.ts for SMS), before
 * it is counted. `isServerDown`: the account, not this message, failed: nothing more goes through it this run.
 */
export type SendOutcome =
  | { outcome: "sent"; historyId: number; messageId: string }
  | { outcome: "not_claimed"; reason: "step_taken" | "client_contacted_today" | "sending_limit_reached" }
  | { outcome: "failed"; kind: ErrorKind | "uncertain"; reason: string; isServerDown: boolean }
  /** The provider answered with its sending quota: the account waits, the step stays due (account-limits.ts). */
  | { outcome: "quota_reached"; reason: string }
  | { outcome: "unrecorded"; reason: string };

/** The run's outcome of a step whose claim or delivery ended as `sent`. */
export function outcomeOfSend(step: DueStep, sent: SendOutcome): FollowupOutcome {
  switch (sent.outcome) {
    case "sent":
      return { outcome: "sent" };
    case "not_claimed":
      return notClaimed(sent.reason);
    case "failed":
      return { outcome: "failed", step: step.decision.step, kind: sent.kind, reason: sent.reason };
    case "unrecorded":
      return { outcome: "failed", step: step.decision.step, kind: "uncertain", reason: sent.reason };
    case "quota_reached":
      return { outcome: "skipped", reason: "sending_quota_reached" };
  }
}

/** A claim refused: another run holds the step, the client already got a follow-up today, or the account reached its limit. */
export function notClaimed(reason: "step_taken" | "client_contacted_today" | "sending_limit_reached"): FollowupOutcome {
  if (reason === "sending_limit_reached") return { outcome: "skipped", reason };
  return { outcome: "skipped", reason: reason === "step_taken" ? "send_in_progress" : "client_already_contacted_today" };
}

/**
 * The outcome of a step whose delivery threw (the database failed around it): counted failed with
 * its error's kind, and logged at the level the error-kind table gives that kind.
 */
export function failureOf(step: DueStep, err: unknown, log: Logger): FollowupOutcome {
  const kind = kindOf(err);
  const reason = shortReason(err);
  log[ERROR_KINDS[kind].level]("followup failed", { followupId: step.candidate.id, kind, error: reason });
  return { outcome: "failed", step: step.decision.step, kind, reason };
}
