// What one run of the follow-up job did, and the one place that counts it: every follow-up a run
// looks at ends the run with one outcome (sent, skipped, closed, planned, failed), whichever channel
// it went to, and countOutcome adds it to the summary.

import type { ErrorKind } from "../errors.js";

export interface FollowupParams {
  /** Report what would be sent, send and record nothing. */
  isDryRun: boolean;
}

/** One email a dry run would send. */
export interface PlannedEmail {
  followupId: number;
  step: number;
  to: string;
  subject: string;
  /** Set for a text message (`to` is then an E.164 number). */
  channel?: "sms";
  /** A text message's words, as it would leave, and the segments it would be billed as. */
  text?: string;
  segments?: number;
}

export interface FollowupFailure {
  followupId: number;
  step: number;
  kind: string;
  reason: string;
}

/** What one run of the follow-up job did. */
export interface FollowupSummary {
  isDryRun: boolean;
  examined: number;
  sent: number;
  /** Not sent this time, by reason (waiting for its day, the window, the client's day…). */
  skipped: number;
  skippedByReason: Record<string, number>;
  /** Set to `Fait` without sending (or that would be, in a dry run), by reason. */
  closed: number;
  closedByReason: Record<string, number>;
  /** Sends refused or that could not be made this run (temporary ones are retried later). */
  failed: number;
  failures: FollowupFailure[];
  /** Attempts found interrupted during the hand-over in this run: never resent, company notified. */
  uncertain: number;
  /** Dry runs only: exactly what would be sent. */
  wouldSend?: PlannedEmail[];
  remaining: boolean;
}

/** What became of one follow-up (one step of it) in a run. */
export type FollowupOutcome =
  | { outcome: "sent" }
  | { outcome: "skipped"; reason: string }
  | { outcome: "closed"; reason: string }
  | { outcome: "planned"; plan: PlannedEmail }
  /** `uncertain`: the message may have left; it is never sent again automatically. */
  | { outcome: "failed"; step: number; kind: ErrorKind | "uncertain"; reason: string };

/** A summary with nothing counted yet. */
export function emptySummary(params: FollowupParams): FollowupSummary {
  return {
    isDryRun: params.isDryRun, examined: 0, sent: 0, skipped: 0, skippedByReason: {}, closed: 0, closedByReason: {},
    failed: 0, failures: [], uncertain: 0, remaining: false,
    ...(params.isDryRun ? { wouldSend: [] } : {}),
  };
}

/** Adds what became of follow-up `followupId` to `summary`. */
export function countOutcome(summary: FollowupSummary, followupId: number, outcome: FollowupOutcome): void {
  switch (outcome.outcome) {
    case "sent":
      summary.sent++;
      break;
    case "skipped":
      summary.skipped++;
      summary.skippedByReason[outcome.reason] = (summary.skippedByReason[outcome.reason] ?? 0) + 1;
      break;
    case "closed":
      summary.closed++;
      summary.closedByReason[outcome.reason] = (summary.closedByReason[outcome.reason] ?? 0) + 1;
      break;
    case "planned":
      summary.wouldSend?.push(outcome.plan);
      break;
    case "failed":
      summary.failed++;
      summary.failures.push({ followupId, step: outcome.step, kind: outcome.kind, reason: outcome.reason });
      break;
  }
}
