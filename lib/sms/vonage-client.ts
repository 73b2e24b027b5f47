// Vonage's SMS API (what the original product used), through Vonage's official SDK: POST /sms/json
// with the account's key and secret; Vonage splits a long text itself and answers one message id
// per segment, each with its own status ("0" = accepted; the others are documented per number at
// developer.vonage.com, "SMS API › Troubleshooting"). `restHost` points the SDK elsewhere (tests).

import { MessageSendAllFailure, MessageSendPartialFailure, SMS, type SMSMessages } from "@vonage/sms";
import { shortReason } from "../errors.js";
import { isGsm7 } from "./segments.js";
import { type OutgoingSms, type SmsProvider, SmsSubmitError, type SubmittedSms } from "./sms-provider.js";

export interface VonageAccount {
  apiKey: string;
  apiSecret: string;
  /** Vonage's REST host (https://rest.nexmo.com) unless overridden. */
  restHost?: string;
  timeoutMs: number;
}

/** "Throttled", "Internal Error", "Too Many Existing Binds": try again on a later run. */
const RETRY_LATER = new Set(["1", "5", "10"]);
/** The account itself cannot send (credentials, barred, out of credit, signature): nothing else goes through it. */
const ACCOUNT_DOWN = new Set(["4", "8", "9", "11", "14", "32"]);
/** Connection errors raised before any byte of the request could reach Vonage. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

export function vonageProvider(account: VonageAccount): SmsProvider {
  const client = new SMS(
    { apiKey: account.apiKey, apiSecret: account.apiSecret },
    { ...(account.restHost ? { restHost: account.restHost } : {}), timeout: account.timeoutMs },
  );
  return {
    key: `vonage:${account.apiKey}`,
    async submit(sms: OutgoingSms, hooks): Promise<SubmittedSms> {
      await hooks.onHandOver();
      let answer: SMSMessages;
      try {
        answer = await client.send({
          from: sms.from,
          // Vonage wants the number without its "+".
          to: sms.to.slice(1),
          text: sms.text,
          // "unicode" only when needed: it halves the characters per segment.
          ...(isGsm7(sms.text) ? {} : { type: "unicode" as never }),
          clientRef: sms.reference,
          statusReportReq: true,
        });
      } catch (err) {
        throw vonageError(err);
      }
      const messageIds = answer.messages.map((m) => m.messageId ?? "").filter(Boolean);
      return { messageIds, response: `vonage status 0: ${messageIds.join(", ")}` };
    },
    async close(): Promise<void> {},
  };
}

function vonageError(err: unknown): SmsSubmitError {
  // The SDK compares the failures with "message-count", which Vonage answers as a string, so an
  // answer whose every segment failed also comes as a "partial" failure: count the successes.
  if (err instanceof MessageSendPartialFailure && err.getSuccessfulMessages().length > 0) {
    return new SmsSubmitError("permanent", `Vonage accepted only some segments (${failureText(err.getFailedMessages())})`, { mayHaveBeenSent: true });
  }
  if (err instanceof MessageSendAllFailure || err instanceof MessageSendPartialFailure) {
    const [first] = err.getFailedMessages();
    const status = String(first?.status ?? "");
    const reason = `Vonage refused the SMS (${failureText(err.getFailedMessages())})`;
    if (RETRY_LATER.has(status)) return new SmsSubmitError("transient", reason, { isAccountDown: true });
    if (ACCOUNT_DOWN.has(status)) return new SmsSubmitError("auth", reason, { isAccountDown: true });
    return new SmsSubmitError("permanent", reason);
  }
  const code = codeOf(err);
  if (code && NOT_SENT_CODES.has(code)) {
    return new SmsSubmitError("transient", `Vonage unreachable (${code})`, { isAccountDown: true, cause: err });
  }
  // Reset, time-out, a broken answer: the request left, so Vonage may have sent the text.
  return new SmsSubmitError("transient", `no clear answer from Vonage: ${shortReason(err)}`, { mayHaveBeenSent: true, isAccountDown: true, cause: err });
}

function failureText(messages: { status?: unknown; errorText?: unknown }[]): string {
  return messages.map((m) => `status ${String(m.status)}${m.errorText ? `: ${String(m.errorText)}` : ""}`).join("; ");
}

function codeOf(err: unknown): string | undefined {
  for (let current = err, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
