// Microsoft Graph as a mail sender (the seam of lib/mail/mail-sender.ts, matched by shape: this room
// does not import lib/mail): a message composed ahead as MIME goes out by `sendMail` (send-mail.ts)
// from the mailbox's own path, `/me` or `/users/{address}` for a shared mailbox (Mail.Send.Shared),
// so it leaves from that address and Graph keeps the copy in its Sent Items.
// The hand-over is the moment just before the request: an HTTP API has no envelope step to wait
// for, and from the request's first byte Graph may deliver. Answers become JobErrors by kind:
//   transient  429/503 waited out past the run's time, 5xx that certainly did nothing, no token now
//   permanent  a refusal of the message itself (4xx other than 401/403, too large)
//   auth       401/403 (ErrorAccessDenied: the consenting person lost access to the shared mailbox)
//   uncertain  the request may have reached Graph and no answer says what became of it
//              (UncertainDeliveryError): never sent again blind.
// A throttled answer waited out after the hand-over leaves a run that dies during the wait with an
// attempt marked handed over though nothing left: it is then uncertain, the safe side.

import { JobError, UncertainDeliveryError } from "../errors.js";
import type { GraphClient } from "./graph-client.js";
import type { GraphMailbox } from "./mailbox-path.js";
import { MAX_SEND_BODY_BYTES, sendMail } from "./send-mail.js";

/** A refusal by Graph, with what it said: its status and how long it asked to wait. */
export class GraphSendRefusedError extends JobError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** Graph's error codes, outermost first (`ErrorAccessDenied`…). */
  readonly codes: string[];
  constructor(kind: JobError["kind"], message: string, details: { status?: number; retryAfterMs?: number; codes?: string[] }) {
    super(kind, message);
    this.name = "GraphSendRefusedError";
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.codes = details.codes ?? [];
  }
}

export interface GraphSenderOptions {
  /** On the client's clock: the end of the run, past which no throttled wait goes. */
  deadline?: () => Date | undefined;
  signal?: AbortSignal;
}

/** What lib/mail/mail-sender.ts's MailSender takes and answers, for a message composed ahead. */
export interface GraphMailSender {
  send(email: { raw: Uint8Array }, options?: { onHandOver?: () => Promise<void> }): Promise<{ response: string }>;
}

/** Sends through Graph as `mailbox`, one message per call. */
export function createGraphSender(client: GraphClient, mailbox: GraphMailbox, options: GraphSenderOptions = {}): GraphMailSender {
  return {
    async send(email, { onHandOver } = {}) {
      // Refused before the hand-over: a message Graph would turn down never counts as handed over.
      const encodedBytes = Math.ceil(email.raw.byteLength / 3) * 4;
      if (encodedBytes > MAX_SEND_BODY_BYTES) {
        throw new GraphSendRefusedError("permanent", `message too large for Microsoft Graph sendMail (${encodedBytes} bytes encoded, at most ${MAX_SEND_BODY_BYTES})`, {});
      }
      await onHandOver?.();
      const deadline = options.deadline?.();
      const result = await sendMail(client, mailbox, email.raw, { ...(deadline ? { deadline } : {}), ...(options.signal ? { signal: options.signal } : {}) });
      switch (result.outcome) {
        case "accepted":
          return { response: "202 Accepted (Microsoft Graph sendMail)" };
        case "uncertain":
          throw new UncertainDeliveryError(`Microsoft Graph sendMail: no answer after the request left (${result.reason})`);
        case "refused":
          throw new GraphSendRefusedError(result.kind, result.reason, {
            ...(result.status !== undefined ? { status: result.status } : {}),
            ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
            ...(result.codes ? { codes: result.codes } : {}),
          });
      }
    },
  };
}
