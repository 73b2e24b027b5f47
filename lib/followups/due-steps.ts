// The rule that says whether a follow-up's next automatic email is due now. Pure: the caller reads
// the facts (follow-up, sends, source, attempts) and passes the clock; nothing here touches I/O.
//
// In plain words, checked in this order:
// 1. Only follow-ups that are `auto_enabled`, not `Fait`, and whose kind the company switched on
//    (`invoices_enabled` for invoices, `quotes_enabled` for quotes; other kinds have no company switch
//    and follow their own `auto_enabled`).
// 2. Closed (`Fait`), nothing sent: the invoice is paid or cancelled, the quote accepted, refused or
//    signed, the source was deleted, the client answered (with `auto_stop_on_response`), or
//    `max_relances` sends were already made (every history row counts, manual ones included).
// 3. Which email comes next. Delays count calendar days in the company's time zone and a step
//    becomes due at the start of its local day:
//    - before the due date (when `enable_relances_before`): one reminder from `days_before_due` days
//      (or `hours_before_due` hours) before the due date, unless something was sent since then;
//    - after the due date, the n-th follow-up (n = sends made on or after the due date, plus one) is
//      due on the due date + relance_delays[0] days for n = 1, and on the day of the last send +
//      relance_delays[n-1] days after that (`auto_frequency_days` replaces the delay from n = 2 on;
//      the last delay repeats past the end of the list).
//    The step number is the count of every previous send plus one, so after days of missed runs
//    exactly one email is due (never a burst), and the next one counts from the day it went out.
// 4. A step that already has an attempt is not tried again here: in progress, failed (a permanent
//    rejection is never retried automatically), uncertain (an operator decides) or already sent
//    (its history row was removed since).
// 5. It waits for the company's sending window, and for the next day when the client already
//    received an automatic follow-up email today (local day).

import { isSameLocalDay, startOfLocalDay } from "./local-time.js";
import { nextWindowOpening } from "./sending-window.js";
import type { FollowupSettings } from "./settings.js";
import type { FollowupKind, SourceState } from "./source-state.js";
import { FOLLOWUP_STATUS, type SendAttemptState } from "../db/schema.js";

export interface FollowupFacts {
  status: string;
  kind: FollowupKind;
  isAutoEnabled: boolean;
  autoFrequencyDays: number | null;
  shouldStopOnResponse: boolean;
}

export interface DueStepInput {
  now: Date;
  settings: FollowupSettings;
  followup: FollowupFacts;
  source: SourceState;
  /** Every send of this follow-up (history rows, manual and automatic). */
  sendsAt: Date[];
  /** Attempts already recorded for this follow-up's automatic steps. */
  attempts: { step: number; state: SendAttemptState }[];
  hasClientReplied: boolean;
  /** The client's address (or mobile number, for SMS), already validated; undefined when missing or unusable. */
  recipient: string | undefined;
  /** Why there is no recipient: `no_client_email` unless the channel says otherwise. */
  missingRecipientReason?: SkipReason;
  /** The latest automatic follow-up email to this client (any follow-up of the company). */
  lastAutomaticEmailToClientAt: Date | undefined;
}

export type SkipReason =
  | "already_done"
  | "auto_disabled"
  | "company_switch_off"
  | "source_draft"
  | "no_client_email"
  | "no_client_phone"
  | "phone_unreadable"
  | "phone_not_mobile"
  | "no_due_date"
  | "no_business_days"
  | "send_in_progress"
  | "previous_send_failed"
  | "previous_send_uncertain"
  | "already_sent";
export type WaitReason = "not_due_yet" | "outside_sending_window" | "client_already_contacted_today";
export type CloseReason =
  | "invoice_paid"
  | "invoice_cancelled"
  | "quote_accepted"
  | "quote_refused"
  | "quote_signed"
  | "source_deleted"
  | "client_replied"
  | "max_relances_reached";

export type DueDecision =
  | { kind: "send"; step: number; isBeforeDue: boolean; reason: "before_due_reminder" | "overdue_followup" }
  | { kind: "wait"; until?: Date; reason: WaitReason }
  | { kind: "close"; reason: CloseReason }
  | { kind: "skip"; reason: SkipReason };

const MS_PER_HOUR = 3_600_000;

/** Rule 1 alone, cheap enough to run before any fact is read from the database. */
export function eligibilityOf(followup: FollowupFacts, settings: FollowupSettings): DueDecision | undefined {
  if (followup.status === FOLLOWUP_STATUS.done) return { kind: "skip", reason: "already_done" };
  if (!followup.isAutoEnabled) return { kind: "skip", reason: "auto_disabled" };
  if (followup.kind === "invoice" && !settings.isInvoiceFollowupEnabled) return { kind: "skip", reason: "company_switch_off" };
  if (followup.kind === "quote" && !settings.isQuoteFollowupEnabled) return { kind: "skip", reason: "company_switch_off" };
  return undefined;
}

/** Decides what to do with one follow-up at `now`. */
export function dueStep(input: DueStepInput): DueDecision {
  const { now, settings, followup, source } = input;
  const ineligible = eligibilityOf(followup, settings);
  if (ineligible) return ineligible;
  if (source.state === "closed") return { kind: "close", reason: source.reason };
  if (input.hasClientReplied && followup.shouldStopOnResponse) return { kind: "close", reason: "client_replied" };
  if (input.sendsAt.length >= settings.maxRelances) return { kind: "close", reason: "max_relances_reached" };
  if (source.state === "draft") return { kind: "skip", reason: "source_draft" };
  if (!input.recipient) return { kind: "skip", reason: input.missingRecipientReason ?? "no_client_email" };
  if (!source.dueDate) return { kind: "skip", reason: "no_due_date" };

  const next = nextStep(input, source.dueDate);
  if (now.getTime() < next.dueAt.getTime()) return { kind: "wait", until: next.dueAt, reason: "not_due_yet" };

  const step = input.sendsAt.length + 1;
  const attempt = input.attempts.find((a) => a.step === step);
  if (attempt?.state === "sending") return { kind: "skip", reason: "send_in_progress" };
  if (attempt?.state === "failed") return { kind: "skip", reason: "previous_send_failed" };
  // Sent, yet not counted among the sends: its history row was deleted (in the app). Sending the
  // step again would mail the client twice.
  if (attempt?.state === "sent") return { kind: "skip", reason: "already_sent" };
  if (attempt) return { kind: "skip", reason: "previous_send_uncertain" };

  const window = settings.sendingWindow;
  const opening = nextWindowOpening(now, window);
  if (!opening) return { kind: "skip", reason: "no_business_days" };
  if (opening.getTime() > now.getTime()) return { kind: "wait", until: opening, reason: "outside_sending_window" };

  const lastToClient = input.lastAutomaticEmailToClientAt;
  if (lastToClient && isSameLocalDay(lastToClient, now, window.timeZone)) {
    return { kind: "wait", until: nextWindowOpening(startOfLocalDay(now, window.timeZone, 1), window), reason: "client_already_contacted_today" };
  }
  return next.isBeforeDue
    ? { kind: "send", step, isBeforeDue: true, reason: "before_due_reminder" }
    : { kind: "send", step, isBeforeDue: false, reason: "overdue_followup" };
}

/** When the next email becomes due, and whether it is the reminder before the due date. */
function nextStep(input: DueStepInput, dueDate: Date): { dueAt: Date; isBeforeDue: boolean } {
  const { now, settings, followup } = input;
  const timeZone = settings.sendingWindow.timeZone;
  const sendsAfterDue = input.sendsAt.filter((at) => at.getTime() >= dueDate.getTime());
  const overdueAt = (): Date => {
    if (sendsAfterDue.length === 0) return startOfLocalDay(dueDate, timeZone, settings.relanceDelaysDays[0]);
    const lastSendAt = new Date(Math.max(...sendsAfterDue.map((at) => at.getTime())));
    const delays = settings.relanceDelaysDays;
    const delayDays = followup.autoFrequencyDays && followup.autoFrequencyDays > 0
      ? followup.autoFrequencyDays
      : delays[Math.min(sendsAfterDue.length, delays.length - 1)]!;
    return startOfLocalDay(lastSendAt, timeZone, delayDays);
  };

  const reminderFrom = beforeDueStart(settings, dueDate);
  if (reminderFrom && now.getTime() < dueDate.getTime()) {
    const hasSentSince = input.sendsAt.some((at) => at.getTime() >= reminderFrom.getTime());
    if (!hasSentSince) return { dueAt: reminderFrom, isBeforeDue: true };
  }
  return { dueAt: overdueAt(), isBeforeDue: false };
}

/** When the reminder before the due date may start, or undefined when there is none. */
function beforeDueStart(settings: FollowupSettings, dueDate: Date): Date | undefined {
  if (!settings.isBeforeDueEnabled) return undefined;
  if (settings.daysBeforeDue && settings.daysBeforeDue > 0) {
    return startOfLocalDay(dueDate, settings.sendingWindow.timeZone, -settings.daysBeforeDue);
  }
  if (settings.hoursBeforeDue && settings.hoursBeforeDue > 0) {
    return new Date(dueDate.getTime() - settings.hoursBeforeDue * MS_PER_HOUR);
  }
  return undefined;
}
