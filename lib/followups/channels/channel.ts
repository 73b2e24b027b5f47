// The seam between deciding a follow-up step (channel-free: due-steps.ts) and delivering it. Each
// channel claims the (follow-up, step) attempt before its provider is contacted, hands the message
// over, and records the send (or its failure) the same way, so every rule of the job — exactly
// once, one automatic message per client per day across channels, the failure classes — holds
// whichever way the reminder goes. Email goes by SMTP (email.ts), SMS by Vonage or SMPP (sms.ts).

import type { Db } from "../../db/client.js";
import type { FollowupChannelName } from "../../db/schema.js";
import type { ErrorKind } from "../../errors.js";
import type { Logger } from "../../log.js";

/** What became of one step handed to a channel. */
export type SendOutcome =
  | { outcome: "sent"; historyId: number; messageId: string }
  | { outcome: "not_claimed"; reason: "step_taken" | "client_contacted_today" }
  | { outcome: "failed"; kind: ErrorKind | "uncertain"; reason: string; isServerDown: boolean }
  | { outcome: "unrecorded"; reason: string };

export interface FollowupChannel<Request> {
  readonly name: FollowupChannelName;
  /**
   * Delivers and records one step; never throws for a provider's failure. SMS claims the step
   * itself first; email steps arrive claimed, a batch at a time (process-batch.ts).
   */
  send(db: Db, request: Request, log: Logger): Promise<SendOutcome>;
}
