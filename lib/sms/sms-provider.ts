// What a follow-up needs from an SMS provider (Vonage's SMS API, or an operator's SMPP gateway):
// submit one text, say when the request is about to leave (the hand-over, after which the provider
// may have it), and report the provider's message ids, one per billed segment, that its delivery
// receipts will name.

import { type ErrorKind, JobError } from "../errors.js";

export interface OutgoingSms {
  /** Alphanumeric sender name (≤ 11 characters) or a number in E.164. */
  from: string;
  /** E.164, with its "+". */
  to: string;
  text: string;
  /** Ours, unique per attempt: Vonage's `client-ref`, echoed in its receipts. */
  reference: string;
}

export interface SubmittedSms {
  /** Provider message ids, in segment order. */
  messageIds: string[];
  /** One line for the history row (as `smtp_response` is for email). */
  response: string;
}

export interface SmsProvider {
  /** Names the account, so a run stops using one that is down, and labels `sms_parts.provider`. */
  readonly key: string;
  /**
   * Submits `sms`; calls `onHandOver` once, just before the first byte of the request leaves. Throws
   * SmsSubmitError (its kind and whether the provider may have the message) on failure.
   */
  submit(sms: OutgoingSms, hooks: { onHandOver(): Promise<void> }): Promise<SubmittedSms>;
  close(): Promise<void>;
}

/**
 * A refused or interrupted submission. `mayHaveBeenSent`: the request left and no clear answer
 * came back (connection dropped, a later segment refused): the client may have the text, so it is
 * never resent automatically. `isAccountDown`: the account (not this number) is the problem, so
 * the run sends nothing else through it.
 */
export class SmsSubmitError extends JobError {
  readonly mayHaveBeenSent: boolean;
  readonly isAccountDown: boolean;
  constructor(kind: ErrorKind, message: string, options: { mayHaveBeenSent?: boolean; isAccountDown?: boolean; cause?: unknown } = {}) {
    super(kind, message, { cause: options.cause });
    this.name = "SmsSubmitError";
    this.mayHaveBeenSent = options.mayHaveBeenSent ?? false;
    this.isAccountDown = options.isAccountDown ?? false;
  }
}

/** Delivery statuses as stored on `sms_parts` and `followup_history.delivery_status`. */
export type DeliveryStatus = "submitted" | "accepted" | "delivered" | "failed" | "expired" | "rejected" | "unknown";
